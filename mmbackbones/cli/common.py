"""What tools/train.py, tools/test.py and the other tools share.

Bad input to a tool is one clear message and a non-zero exit, never a
traceback: every check here raises :class:`ToolError`, and :func:`run_tool`
turns it (and the library's own ``CheckpointError``) into that message.
"""
import os.path as osp
import sys
from typing import Any, Callable, List, Optional, Sequence

import torch
from mmengine.config import Config, DictAction

from mmbackbones.converters.base import describe_mismatch
from mmbackbones.engine.checkpoint import (CheckpointError,
                                           load_checkpoint_file)

DEMO_COMMAND = 'python tools/train.py configs/demo/shufflenet_v2_digits.py'

IMAGENET_LAYOUT = """\
Lay out ImageNet-1k like this (class folders, or flat folders plus meta/
lists of "relative/path.JPEG label" lines):
  data/imagenet/
    train/n01440764/n01440764_10026.JPEG ...
    val/n01440764/ILSVRC2012_val_00000293.JPEG ...
    meta/train.txt, meta/val.txt   (optional)
or point the config elsewhere: --cfg-options data_root=/path/to/imagenet \
train_dataloader.dataset.data_root=/path/to/imagenet \
val_dataloader.dataset.data_root=/path/to/imagenet"""


class ToolError(Exception):
    """A problem with the user's input, reported as one message."""


def run_tool(main: Callable[[Optional[Sequence[str]]], Any],
             argv: Optional[Sequence[str]] = None) -> None:
    """Run ``main(argv)``; report ToolError/CheckpointError in one line on
    stderr and exit 2."""
    try:
        main(argv)
    except (ToolError, CheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        sys.exit(130)


def add_cfg_options(parser) -> None:
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config values, e.g. '
        'train_dataloader.batch_size=32 model.backbone.widen_factor=0.5 '
        '(keys must exist in the config)')


def _check_key_exists(cfg: Config, dotted: str) -> None:
    node: Any = cfg
    walked: List[str] = []
    for part in dotted.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit():
            if int(part) >= len(node):
                raise ToolError(
                    f'--cfg-options {dotted}: {".".join(walked)} has '
                    f'{len(node)} items, no index {part}')
            node = node[int(part)]
        elif hasattr(node, 'keys') and part in node.keys():
            node = node[part]
        else:
            where = '.'.join(walked) or 'the config'
            keys = sorted(node.keys()) if hasattr(node, 'keys') else []
            hint = f'; keys there: {keys[:20]}' if keys else ''
            raise ToolError(f'--cfg-options {dotted}: {where} has no key '
                            f'{part!r}{hint}')
        walked.append(part)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config file, applying ``--cfg-options`` whose keys exist."""
    if not osp.isfile(path):
        raise ToolError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except Exception as err:  # syntax errors, bad imports, bad bases
        first_line = str(err).strip().splitlines()[0] if str(err) else ''
        raise ToolError(f'cannot load config {path}: {type(err).__name__}: '
                        f'{first_line}') from None
    if cfg_options:
        for key in cfg_options:
            _check_key_exists(cfg, key)
        cfg.merge_from_dict(cfg_options)
    return cfg


def load_run_config(args) -> Config:
    """The config of a train/test run: ``--cfg-options`` applied, launcher
    and work dir (``--work-dir``, the config's, or work_dirs/<name>) set."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = (args.work_dir or cfg.get('work_dir')
                    or default_work_dir(args.config))
    return cfg


def _dataset_paths(dataset: dict) -> List[str]:
    """The files/folders a dataset config needs to exist."""
    root = dataset.get('data_root', '') or ''
    paths = [root] if root else []
    ann_file = dataset.get('ann_file', '') or ''
    if ann_file:
        paths.append(ann_file if osp.isabs(ann_file) else osp.join(
            root, ann_file))
    prefix = dataset.get('data_prefix', '') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get('img_path', '') or ''
    split = dataset.get('split', '') or ''
    sub = prefix or split
    if sub:
        paths.append(sub if osp.isabs(sub) else osp.join(root, sub))
    return paths


def check_datasets(cfg: Config, dataloaders: Sequence[str]) -> None:
    """Stop with one message when a dataloader's data is not on disk."""
    for name in dataloaders:
        loader = cfg.get(name)
        if not loader or 'dataset' not in loader:
            continue
        dataset = loader['dataset']
        while 'dataset' in dataset:  # wrappers (RepeatDataset, ...)
            dataset = dataset['dataset']
        for path in _dataset_paths(dataset):
            if path and not osp.exists(path):
                dtype = dataset.get('type')
                type_name = getattr(dtype, '__name__', str(dtype))
                message = f'{name}: dataset path {path!r} does not exist.'
                if type_name == 'ImageNet':
                    message += '\n' + IMAGENET_LAYOUT
                message += ('\nTo try mmbackbones without downloading '
                            f'anything, run the demo:\n  {DEMO_COMMAND}')
                raise ToolError(message)


def check_checkpoint_arg(path: Optional[str], what: str) -> None:
    if path and not osp.isfile(path):
        raise ToolError(f'{what}: checkpoint file not found: {path}')


def default_work_dir(config_path: str) -> str:
    name = osp.splitext(osp.basename(config_path))[0]
    return osp.join('work_dirs', name)


def checkpoint_fits(model: torch.nn.Module, path: str) -> dict:
    """Read a checkpoint safely and check that its ``state_dict`` has exactly
    the model's keys and shapes; returns that state dict, or raises
    ToolError naming the first mismatched keys."""
    from mmengine.model import is_model_wrapper
    checkpoint = load_checkpoint_file(path)
    state = checkpoint.get('state_dict', checkpoint)
    if is_model_wrapper(model):
        model = model.module
    problem = describe_mismatch(state, model.state_dict())
    if problem:
        raise ToolError(f'{path} does not fit the model of this config: '
                        f'{problem}')
    return state
