"""``python tools/analysis/get_flops.py CONFIG [--shape H W | --shape S]``.

Params and FLOPs of the backbone and of the whole model of a config, the
output of mmpretrain's ``tools/analysis_tools/get_flops.py`` per part:

    $ python tools/analysis/get_flops.py configs/resnet.py
    ==============================
    Input shape: (3, 224, 224)
    | part     | params     | FLOPs    |
    | backbone | 23.508M    | 4.109G   |
    | model    | 25.557M    | 4.112G   |
    ==============================

FLOPs are multiply-adds (mmengine's counter, fvcore's convention: see
:mod:`mmbackbones.analysis.complexity`). The default shape is the config's
test crop. CONFIG may be a model name (``get_flops.py resnet50``, see
``mmbackbones.list_models()``). ``--deploy`` counts the inference
structure (RepVGG re-parameterised), ``--counter meta`` counts without
running the model.
"""
import argparse
from typing import List, Optional

from mmbackbones.cli.common import (ArgumentParser, ToolError, add_cfg_options,
                                    add_config_argument, add_shape_option,
                                    load_config, run_tool)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(prog='get_flops.py', description=__doc__)
    add_config_argument(parser)
    add_shape_option(parser, None, 'of one image')
    parser.add_argument('--deploy', action='store_true',
                        help='count the inference structure: '
                        're-parameterisable blocks switched (RepVGG)')
    parser.add_argument('--counter', choices=('mmengine', 'meta'),
                        default='mmengine',
                        help="mmengine's FlopAnalyzer (runs the model once; "
                        'default) or the meta-device counter (same totals, '
                        'runs nothing)')
    add_cfg_options(parser)
    return parser.parse_args(argv)


def _size(n: Optional[int], unit: str = '') -> str:
    if n is None:
        return '-'
    for scale, suffix in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if n >= scale:
            return f'{n / scale:.3f}{suffix}'
    return str(n)


def format_report(result) -> str:
    """The tool's output for a :class:`Complexity`."""
    rows = [('part', 'params', 'FLOPs'),
            ('backbone', _size(result.backbone_params),
             _size(result.backbone_flops)),
            ('model', _size(result.model_params), _size(result.model_flops))]
    bar = '=' * 30
    lines = [bar, f'Input shape: {result.input_shape}']
    lines += [f'| {a:<8} | {b:<10} | {c:<8} |' for a, b, c in rows]
    if result.unsupported_ops:
        ops = ', '.join(f'{k} x{v}' for k, v in
                        sorted(result.unsupported_ops.items()))
        lines.append(f'Counted as 0 (as fvcore/mmpretrain do): {ops}')
    lines += [bar, 'FLOPs: multiply-adds for one image (fvcore\'s and '
              "mmpretrain's convention). Check a model's FLOPs against its "
              'paper before quoting it.']
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None):
    """Print the report; return the :class:`Complexity`."""
    args = parse_args(argv)
    from mmbackbones.analysis.complexity import config_complexity
    cfg = load_config(args.config, args.cfg_options)
    if not hasattr(cfg.get('model'), 'keys'):
        raise ToolError(f'{args.config}: the config has no model dict')
    try:
        result = config_complexity(
            cfg, args.shape,
            reparameterize=args.deploy, counter=args.counter)
    except RuntimeError as err:  # e.g. an input too small for the model
        raise ToolError(f'--shape {args.shape}: the model cannot run at '
                        f'this size: {str(err).splitlines()[0]}') from None
    print(format_report(result))
    return result


def cli() -> None:
    # ValueError: a backbone's own check of its input (too small, ...).
    run_tool(main, prog='get_flops.py', bad_input=(ValueError, ))
