"""Training-side pieces: safe checkpoint files (and, later, hooks)."""
from .checkpoint import (SAFE_GLOBALS, CheckpointError,
                         allow_mmengine_checkpoints, atomic_write,
                         load_checkpoint_file, save_checkpoint_file)

__all__ = [
    'SAFE_GLOBALS', 'CheckpointError', 'allow_mmengine_checkpoints',
    'atomic_write', 'load_checkpoint_file', 'save_checkpoint_file'
]
from .optim_wrapper import CPUAutocastOptimWrapper  # noqa: E402

__all__ += ['CPUAutocastOptimWrapper']
from .hooks import (ExactResumeHook, NonFiniteLossError,  # noqa: E402
                    NonFiniteLossHook, RankConsistencyHook,
                    QuietWhenMainStops, SafeCheckpointHook,
                    quiet_when_main_stops, seed_worker)
from .runner import SafeRunner, WorkDirBusy  # noqa: E402

__all__ += [
    'ExactResumeHook', 'NonFiniteLossError', 'NonFiniteLossHook',
    'RankConsistencyHook', 'SafeCheckpointHook',
    'QuietWhenMainStops', 'quiet_when_main_stops', 'seed_worker',
    'SafeRunner', 'WorkDirBusy'
]
from .memory_format import (MEMORY_FORMATS,  # noqa: E402
                            ContiguousCheckpointHook,
                            MemoryFormatClsDataPreprocessor,
                            check_memory_format, to_memory_format)

__all__ += [
    'MEMORY_FORMATS', 'ContiguousCheckpointHook',
    'MemoryFormatClsDataPreprocessor', 'check_memory_format',
    'to_memory_format'
]
from .optim_constructor import (GroupedOptimWrapperConstructor,  # noqa: E402
                                merge_param_groups)

__all__ += ['GroupedOptimWrapperConstructor', 'merge_param_groups']
from .compile import (COMPILED_PARTS, compile_model,  # noqa: E402
                      compile_options, is_compiled)

__all__ += ['COMPILED_PARTS', 'compile_model', 'compile_options',
            'is_compiled']
