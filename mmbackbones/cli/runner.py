"""Building mmengine's Runner for our tools: the memory format, AMP on CPU
and GPU, torch.compile, and distributed launch on CPU-only machines
(gloo)."""
import os
import time
from datetime import timedelta
from typing import List, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner

from mmbackbones.engine import MEMORY_FORMATS, SafeRunner
from mmbackbones.registry import RUNNERS
from .common import RunStopped, ToolError

#: Seconds a collective operation waits for the other ranks before the run
#: stops (gloo's and NCCL's default is 30 minutes: a stopped rank hung the
#: others that long). Set the environment variable MMBACKBONES_DIST_TIMEOUT
#: or the config's ``env_cfg.dist_cfg.timeout`` to change it.
DIST_TIMEOUT = 300


def dist_timeout(cfg: Config) -> float:
    """Seconds: ``$MMBACKBONES_DIST_TIMEOUT``, else
    ``env_cfg.dist_cfg.timeout``, else :data:`DIST_TIMEOUT`; written back to
    the config so mmengine's own initialisation (GPUs) uses it too."""
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    timeout = os.environ.get('MMBACKBONES_DIST_TIMEOUT',
                             cfg.env_cfg.dist_cfg.get('timeout',
                                                      DIST_TIMEOUT))
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        timeout = -1
    if not timeout > 0:
        raise ToolError('the distributed timeout (MMBACKBONES_DIST_TIMEOUT '
                        'or env_cfg.dist_cfg.timeout) must be a positive '
                        'number of seconds')
    cfg.env_cfg.dist_cfg.timeout = timeout
    return timeout


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 / AMX),
    as oneDNN reports it; elsewhere bfloat16 is emulated."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


#: Why ``--amp`` refuses a CPU without native bfloat16.
EMULATED_BF16 = (
    '--amp on this CPU would train in emulated bfloat16: it has no native '
    'bfloat16 (torch.ops.mkldnn._is_mkldnn_bf16_supported() is False, '
    'e.g. AVX2 only), and there the full training step of ResNet-50, '
    'MobileNetV2, EfficientNet-B0 and ShuffleNetV2 was measured 7-12x '
    'SLOWER than fp32 (issue 12). Train without --amp; to run it anyway '
    '(to test, not for speed) pass --cfg-options '
    'optim_wrapper.type=CPUAutocastOptimWrapper')


def setup_amp(cfg: Config) -> None:
    """``--amp``: fp16 + dynamic loss scaling on GPU; bfloat16 autocast on
    CPU, where mmengine's AmpOptimWrapper refuses to run -- but only on a
    CPU with native bfloat16 (see :data:`EMULATED_BF16`).

    Raises:
        ToolError: a CPU-only machine without native bfloat16.
    """
    # Registry names, not classes: the config must still dump as text.
    wrapper = cfg.optim_wrapper
    if torch.cuda.is_available():
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
    else:
        if not cpu_has_native_bf16():
            raise ToolError(EMULATED_BF16)
        wrapper.type = 'CPUAutocastOptimWrapper'
        wrapper.setdefault('dtype', 'bfloat16')


def setup_param_groups(cfg: Config) -> None:
    """Merge the optimizer's per-parameter groups (same updates, one
    multi-tensor step: :mod:`mmbackbones.engine.optim_constructor`) unless
    the config chose its own constructor."""
    wrapper = cfg.get('optim_wrapper')
    if wrapper is not None and wrapper.get('paramwise_cfg') and \
            'constructor' not in wrapper:
        wrapper.constructor = 'GroupedOptimWrapperConstructor'


def setup_fused_optimizer(cfg: Config) -> None:
    """SGD steps with PyTorch's fused kernel (``fused=True``: weight decay,
    momentum and the update in one pass over each tensor group, where the
    default runs three per parameter) where the device has it, unless the
    config chose ``fused`` or ``foreach`` itself. The same update (bit for
    bit on whole 8-float vectors; a tensor's last ``numel % 8`` elements
    may round once differently, <= 1 ulp: tested); ResNet-50's optimizer
    step 26 -> 13 ms on 2 CPU cores."""
    import torch
    from torch.optim.optimizer import _get_fused_kernels_supported_devices
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer')
    if not optimizer:
        return
    kind = optimizer.get('type')
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if name.split('.')[-1] == 'SGD' and 'fused' not in optimizer and \
            'foreach' not in optimizer and \
            device in _get_fused_kernels_supported_devices():
        optimizer['fused'] = True


def setup_compile(cfg: Config, backend: Optional[str]) -> None:
    """``--compile [BACKEND]``: the config key ``compile_model``, with which
    SafeRunner compiles the model's backbone, neck and head in place with
    BACKEND (:mod:`mmbackbones.engine.compile`; the first iterations are
    slow: they compile). Not mmengine's ``compile`` option: it compiles the
    whole ``train_step``, whose Mixup recompiles it every iteration."""
    if backend:
        cfg.compile_model = dict(backend=backend)


def setup_memory_format(cfg: Config, requested: Optional[str]) -> str:
    """Resolve the run's memory format and set the config up for it.

    ``requested`` (``--memory-format``) wins, else the config key
    ``memory_format``, else ``'auto'``: the fastest measured format of the
    backbone's family (:mod:`mmbackbones.analysis.memory_format`). The
    resolved value is written to ``cfg.memory_format`` (SafeRunner
    converts the model and saves contiguous checkpoints) and, for
    channels_last, the data preprocessor becomes
    ``MemoryFormatClsDataPreprocessor``. Returns the resolved value.

    Raises:
        ToolError: an unknown value, or a config whose data preprocessor
            is not mmpretrain's ``ClsDataPreprocessor`` asked for
            channels_last.
    """
    from mmbackbones.analysis.memory_format import fastest_memory_format
    choice = requested or cfg.get('memory_format') or 'auto'
    if choice not in ('auto', ) + MEMORY_FORMATS:
        raise ToolError(f'memory_format must be one of '
                        f'{("auto", ) + MEMORY_FORMATS}, but got {choice!r}')
    if choice == 'auto':
        backbone = (cfg.get('model') or {}).get('backbone') or {}
        choice = fastest_memory_format(backbone.get('type', ''))
    cfg.memory_format = choice
    if choice != 'channels_last':
        return choice
    model = cfg.get('model') or {}
    if 'data_preprocessor' in model:
        pre = model['data_preprocessor']
    else:
        pre = cfg.setdefault('data_preprocessor', {})
    if pre is None:
        pre = cfg.data_preprocessor = {}
    kind = str(pre.get('type', 'ClsDataPreprocessor')).split('.')[-1]
    if kind not in ('ClsDataPreprocessor', 'MemoryFormatClsDataPreprocessor'):
        if requested:
            raise ToolError(f'--memory-format channels_last needs '
                            f"mmpretrain's ClsDataPreprocessor, but the "
                            f'config has {kind}')
        cfg.memory_format = 'contiguous'  # auto: leave a custom one alone
        return 'contiguous'
    pre['type'] = 'MemoryFormatClsDataPreprocessor'
    pre['memory_format'] = 'channels_last'
    return choice


def setup_launcher(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work without GPUs.

    mmengine 0.10.7 calls ``torch.cuda.set_device`` while initialising and
    gives DDP ``device_ids`` even for CPU modules; both fail on a CPU-only
    machine. There we start the gloo process group ourselves (mmengine then
    skips its own initialisation) and wrap the model without device ids.
    With GPUs nothing changes (NCCL, one device per process).
    """
    if cfg.launcher == 'none':
        return
    timeout = dist_timeout(cfg)
    if torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise ToolError(f'--launcher {cfg.launcher} needs GPUs; on CPU use '
                         "--launcher pytorch (tools/dist_train.sh)")
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo',
                                timeout=timedelta(seconds=timeout))
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None  # a CPU module takes no device ids
    wrapper.setdefault('broadcast_buffers', False)
    cfg.model_wrapper_cfg = wrapper
    # Each process gets its share of the cores.
    world = int(os.environ.get('LOCAL_WORLD_SIZE', '1'))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))


def build_runner(cfg: Config) -> Runner:
    """The config's ``runner_type``, or :class:`SafeRunner` (atomic
    checkpoint files) when it names none."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return SafeRunner.from_cfg(cfg)


def _missing_ranks(grace: float) -> List[int]:
    """Roll call after a failed collective: every rank that can still act
    writes its key to the rendezvous store (torchrun's agent holds it, so
    it outlives a stopped rank); the ranks that did not within ``grace``
    seconds are the ones that stopped."""
    store = dist.distributed_c10d._get_default_store()
    rank, world = dist.get_rank(), dist.get_world_size()
    store.set(f'mmbackbones/alive/{rank}', '1')
    deadline = time.time() + grace
    keys = [f'mmbackbones/alive/{r}' for r in range(world)]
    while time.time() < deadline:
        missing = [r for r, key in enumerate(keys) if not store.check([key])]
        if not missing:
            return []
        time.sleep(0.2)
    return missing


def communication_failure(err: BaseException, cfg: Config,
                          grace: float = 5.0) -> RunStopped:
    """The one-line error for a collective that failed or timed out,
    naming the rank(s) that stopped responding."""
    rank = dist.get_rank()
    timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')
    try:
        missing = _missing_ranks(grace)
    except Exception:  # the store is gone too
        missing = None
    if missing:
        who = (f'rank {missing[0]}' if len(missing) == 1 else
               f'ranks {missing}')
        what = f'{who} stopped responding (stopped, hung or killed)'
    elif missing is None:
        what = 'the other ranks cannot be reached'
    else:
        what = 'every rank is alive; the connection failed'
    detail = str(err).strip().splitlines()
    detail = detail[-1][:200] if detail else type(err).__name__
    return RunStopped(
        f'rank {rank}: a collective operation failed after waiting up to '
        f'{timeout} s (env_cfg.dist_cfg.timeout): {what}; {detail}')


def is_communication_failure(err: BaseException) -> bool:
    """A failed or timed-out collective in a multi-process run."""
    if not (dist.is_available() and dist.is_initialized()
            and dist.get_world_size() > 1):
        return False
    if isinstance(err, getattr(dist, 'DistError', ())):
        return True
    text = str(err).lower()
    return any(s in text for s in ('timed out', 'timeout', 'gloo',
                                   'connection reset', 'connection closed'))
