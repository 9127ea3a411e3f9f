"""``python tools/convert_weights.py --source S --config C IN OUT``.

Converts a torchvision / timm / mmpretrain checkpoint into the backbone
weights of the config's model, written atomically as an mmengine-style
checkpoint (``state_dict`` with ``backbone.`` keys) that ``load_from`` or
``init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='backbone.')``
accept.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from mmbackbones.converters import SOURCES, convert_state_dict
from mmbackbones.engine.checkpoint import (load_checkpoint_file,
                                           save_checkpoint_file)
from mmbackbones.registry import MODELS
from .common import (ArgumentParser, ToolError, add_cfg_options, load_config,
                     run_tool)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog='convert_weights.py',
        description='Convert foreign weights to an mmbackbones backbone.')
    parser.add_argument('--source', required=True, choices=SOURCES,
                        help='where the weights come from')
    parser.add_argument('--config', required=True,
                        help='config whose model.backbone receives them')
    parser.add_argument('input', help='source checkpoint (.pth)')
    parser.add_argument('output', help='converted checkpoint to write')
    add_cfg_options(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if osp.abspath(args.input) == osp.abspath(args.output):
        raise ToolError('output must differ from input: the converter never '
                        'overwrites its input')
    cfg = load_config(args.config, args.cfg_options)
    checkpoint = load_checkpoint_file(args.input)
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmbackbones'))
    model = MODELS.build(cfg.model)
    backbone = getattr(model, 'backbone', model)
    prefix = 'backbone.' if backbone is not model else ''
    try:
        converted = convert_state_dict(checkpoint, args.source, backbone)
    except ValueError as err:
        raise ToolError(str(err)) from None
    state_dict = {prefix + k: v for k, v in converted.items()}
    meta = dict(source=args.source, config=osp.basename(args.config),
                backbone=type(backbone).__name__)
    save_checkpoint_file(dict(state_dict=state_dict, meta=meta), args.output)
    print(f'wrote {len(state_dict)} tensors of {meta["backbone"]} to '
          f'{args.output}')


def cli(argv: Optional[Sequence[str]] = None) -> None:
    run_tool(main, argv, prog='convert_weights.py')
