"""``python tools/test.py CONFIG CHECKPOINT``: evaluate a checkpoint.

CONFIG is a config file or a model name (``resnet50``, see
``mmbackbones.list_models()``).

The checkpoint is read with ``weights_only=True`` and loaded strictly: a
checkpoint of another architecture is refused with the mismatched keys.
"""
import argparse
from typing import Optional, Sequence

import torch
from mmengine.model import is_model_wrapper

from mmbackbones.engine.checkpoint import load_checkpoint_file
from .common import (ArgumentParser, ToolError, add_cfg_options,
                     add_config_argument, check_datasets, check_run_config,
                     checkpoint_fits, load_run_config, run_tool)
from .runner import build_runner, setup_launcher


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog='test.py',
        description='Evaluate a checkpoint on the config\'s test set.')
    add_config_argument(parser, checkpoint='checkpoint file (.pth)')
    parser.add_argument('--work-dir', help='where the test log goes')
    add_cfg_options(parser)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'],
                        default='none', help='job launcher')
    return parser.parse_args(argv)


def load_weights_strictly(model, checkpoint_path: str) -> None:
    """Load a checkpoint's ``state_dict`` into ``model`` with strict keys,
    or raise ToolError naming the first mismatched keys."""
    state = checkpoint_fits(model, checkpoint_path)
    # NaN weights evaluate to a plausible-looking "top-1 0.0" otherwise.
    bad = [key for key, value in state.items()
           if isinstance(value, torch.Tensor) and value.is_floating_point()
           and not value.isfinite().all()]
    if bad:
        raise ToolError(f'{checkpoint_path} holds NaN/inf in {len(bad)} '
                        f'tensor(s) (first: {bad[:3]}): its results would '
                        'be meaningless')
    if is_model_wrapper(model):
        model = model.module
    model.load_state_dict(state, strict=True)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    cfg = load_run_config(args)
    check_run_config(cfg, ['test_dataloader'])
    check_datasets(cfg, ['test_dataloader'])
    # Read the file before building anything: a bad file fails fast.
    load_checkpoint_file(args.checkpoint)
    cfg.load_from, cfg.resume = None, False
    setup_launcher(cfg)
    runner = build_runner(cfg)
    load_weights_strictly(runner.model, args.checkpoint)
    metrics = runner.test()
    print(' '.join(f'{k}: {v:.4f}' if isinstance(v, float) else f'{k}: {v}'
                   for k, v in metrics.items()))


def cli(argv: Optional[Sequence[str]] = None) -> None:
    run_tool(main, argv, prog='test.py')
