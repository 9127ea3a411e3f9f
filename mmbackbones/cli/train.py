"""``python tools/train.py CONFIG``: train with mmengine's Runner.

Examples:
    python tools/train.py configs/demo/shufflenet_v2_digits.py
    python tools/train.py configs/shufflenet_v2.py --amp --work-dir work_dirs/x
    python tools/train.py configs/shufflenet_v2.py --resume   # latest ckpt
    bash tools/dist_train.sh configs/shufflenet_v2.py 8
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config

from mmbackbones.datasets import prepare_data
from .common import (ArgumentParser, ToolError, add_cfg_options,
                     check_checkpoint_arg, check_datasets, check_run_config,
                     checkpoint_fits, load_run_config, run_tool)
from mmbackbones.engine import MEMORY_FORMATS
from mmbackbones.engine.allocator import ALLOCATORS, tune_allocator
from .runner import (build_runner, communication_failure,
                     is_communication_failure, setup_amp, setup_compile,
                     setup_fused_optimizer, setup_launcher,
                     setup_memory_format, setup_param_groups)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog='train.py',
        description='Train a classifier with an mmbackbones backbone.')
    parser.add_argument('config', help='config file, e.g. '
                        'configs/shufflenet_v2.py')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', const='auto', default=None, metavar='CKPT',
        help='resume from CKPT, or without a value from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='mixed precision: fp16 with loss scaling on GPU, bfloat16 '
        'autocast on CPU')
    parser.add_argument(
        '--compile', nargs='?', const='inductor', default=None,
        metavar='BACKEND',
        help='torch.compile the backbone, neck and head in place with '
        'BACKEND (default: inductor; the config key compile_model); the '
        'first iterations compile, the rest run faster where the backend '
        'helps')
    parser.add_argument(
        '--memory-format', choices=('auto', ) + MEMORY_FORMATS,
        default=None,
        help='memory format of the model and batches; auto (default, or '
        'the config key memory_format): channels_last for the families '
        'measured faster in it (mmbackbones/analysis/memory_format.py)')
    parser.add_argument(
        '--allocator', choices=ALLOCATORS, default='tuned',
        help='tuned (default): this process keeps freed memory for reuse '
        'and puts large tensors on transparent huge pages, so a step does '
        'not page-fault its activations in again (same results; the '
        'process keeps its peak memory); default: as Python started it '
        '(mmbackbones/engine/allocator.py)')
    parser.add_argument(
        '--no-validate', action='store_true',
        help='skip validation during training')
    add_cfg_options(parser)
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
        help='job launcher (tools/dist_train.sh uses pytorch)')
    return parser.parse_args(argv)


def _last_checkpoint(cfg: Config) -> str:
    last = osp.join(cfg.work_dir, 'last_checkpoint')
    if not osp.isfile(last):
        raise ToolError(
            f'--resume: no checkpoint to resume from in {cfg.work_dir} '
            '(it has no last_checkpoint file); train without --resume, '
            'or pass a checkpoint: --resume path/to/epoch_N.pth')
    with open(last, encoding='utf-8') as f:
        return f.read().strip()


def _resolve_resume(cfg: Config, resume: Optional[str]) -> None:
    if resume is None:
        return
    if resume == 'auto':
        check_checkpoint_arg(_last_checkpoint(cfg), '--resume')
        cfg.resume, cfg.load_from = True, None
    else:
        check_checkpoint_arg(resume, '--resume')
        cfg.resume, cfg.load_from = True, resume


def configure_speed(cfg: Config, amp: bool = False,
                    compile_backend: Optional[str] = None,
                    memory_format: Optional[str] = None) -> str:
    """What ``--amp``, ``--compile`` and ``--memory-format`` do to a
    config, plus the merged optimizer groups and fused SGD (also what
    tools/analysis/train_speed.py measures). Returns the resolved memory
    format."""
    if amp:
        setup_amp(cfg)
    setup_param_groups(cfg)
    setup_fused_optimizer(cfg)
    setup_compile(cfg, compile_backend)
    return setup_memory_format(cfg, memory_format)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    # Before anything is built: PyTorch reads THP_MEM_ALLOC_ENABLE once.
    tune_allocator(args.allocator)
    cfg = load_run_config(args)
    if cfg.get('prepare_data'):
        prepare_data(cfg.prepare_data)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    check_run_config(cfg, ['train_dataloader', 'val_dataloader'],
                     train=True)
    check_datasets(cfg, ['train_dataloader', 'val_dataloader'])
    check_checkpoint_arg(cfg.get('load_from'), 'load_from')
    _resolve_resume(cfg, args.resume)
    configure_speed(cfg, args.amp, args.compile, args.memory_format)
    setup_launcher(cfg)
    runner = build_runner(cfg)
    if cfg.resume:
        # mmengine resumes non-strictly; another architecture's checkpoint
        # must not silently half-load.
        checkpoint_fits(runner.model, cfg.load_from or _last_checkpoint(cfg))
    try:
        runner.train()
    except Exception as err:
        if is_communication_failure(err):
            raise communication_failure(err, cfg) from None
        raise


def cli(argv: Optional[Sequence[str]] = None) -> None:
    run_tool(main, argv, prog='train.py')
