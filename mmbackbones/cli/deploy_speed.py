"""Inference speed of each family's deploy form against its training form.

For every registered backbone's default variant (see
``mmbackbones.deploy.families``) -- or the ones named -- the training form
(eval mode) and the deploy form (``convert_to_deploy``: RepVGG blocks
switched, Conv -> BN pairs folded) run side by side in ONE process on the
same input: after a warm-up their steps are interleaved, each model in each
memory format, and each model is reported in its faster format
(tools/analysis/benchmark.py's runner). The speed-up is training-form /
deploy-form median step time; on a busy machine the fastest-step ratio is
the less disturbed one.

Example (the numbers in docs/deploy.md)::

    python tools/analysis/deploy_speed.py --batch 8 --size 224 --threads 2
    python tools/analysis/deploy_speed.py RepVGG ShuffleNetV2 --json out.json
"""
import argparse
import copy
import json
import os
from typing import List, Optional

import torch

from .benchmark import deploy_speedup


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from mmbackbones.cli.common import (ArgumentParser, add_timing_options,
                                        at_least)
    parser = ArgumentParser(prog='deploy_speed.py', description=__doc__)
    parser.add_argument('backbones', nargs='*', metavar='TYPE',
                        help='registry types to measure (default: all)')
    parser.add_argument('--batch', type=at_least(1), default=8)
    parser.add_argument('--size', type=at_least(1), default=224)
    add_timing_options(parser, steps=10, warmup=2)
    return parser.parse_args(argv)


def measure(cfg: dict, args: argparse.Namespace) -> dict:
    """One backbone config: its deploy form against its training form
    (:func:`~mmbackbones.cli.benchmark.deploy_speedup`)."""
    from mmbackbones.deploy import convert_to_deploy
    from mmbackbones.registry import MODELS
    model = MODELS.build(copy.deepcopy(cfg)).eval()
    x = torch.rand(args.batch, model.in_channels, args.size, args.size)
    deployed = copy.deepcopy(model)
    info = convert_to_deploy(deployed, x[:1])
    row = deploy_speedup(model, deployed, x, args.warmup, args.steps)
    return dict(reparameterized=len(info.reparameterized),
                fused=len(info.fused), **row)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    import mmbackbones  # noqa: F401
    from mmbackbones.deploy.families import CONFIG_DIR, default_variants
    variants = default_variants()
    names = args.backbones or [n for n, v in variants.items() if v]
    unknown = [n for n in names if not variants.get(n)]
    if unknown:
        raise ValueError(f'no default variant for {unknown}; known: '
                         f'{[n for n, v in variants.items() if v]}')
    print(f'inference, batch {args.batch}, {args.size}x{args.size}, '
          f'{args.threads} threads, median of {args.steps} interleaved steps '
          f'after {args.warmup} warm-up, each form in its faster format')
    print(f'{"backbone":<13} {"config":<30} {"training ms":>16} '
          f'{"deploy ms":>16} {"speed-up":>8} {"fastest":>8}')
    results = {}
    for name in names:
        where, cfg = variants[name]
        row = measure(cfg, args)
        variant = (os.path.relpath(where, CONFIG_DIR)
                   if where != 'defaults' else where)
        results[name] = dict(variant=variant, **row)
        short = {'contiguous_format': 'c', 'channels_last': 'cl'}
        cells = ' '.join(
            f'{row[f"{form}_ms"]:>11.1f} ({short[row[f"{form}_format"]]:>2})'
            for form in ('original', 'deployed'))
        print(f'{name:<13} {variant:<30} {cells} '
              f'{row["speedup"]:>7.2f}x {row["fastest_speedup"]:>7.2f}x',
              flush=True)
    print('(c: contiguous, cl: channels_last -- the faster format of each)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(settings=vars(args), results=results), f, indent=2)
    return results


def cli(argv: Optional[List[str]] = None) -> None:
    from mmbackbones.cli.common import run_tool

    # An unknown backbone type is a ValueError: bad input, exit 2.
    run_tool(main, argv, prog='deploy_speed.py', bad_input=(ValueError, ))
