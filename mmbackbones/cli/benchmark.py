"""Side-by-side speed of one of our backbones and a reference backbone.

Both models run in ONE process with the same input, threads and memory
formats; after a warm-up their steps are interleaved (round-robin, the
order reversed every round), so machine noise and thermal drift hit both
alike. Each model is timed contiguous and channels_last; the report gives
each model's faster format and the ratio ours / reference of the median
step time (below 1: ours is faster).

Examples::

    python tools/analysis/benchmark.py configs/resnet_v2.py \\
        --reference timm:resnetv2_50
    python tools/analysis/benchmark.py configs/vgg.py \\
        --reference torchvision:vgg16_bn --mode infer
    python tools/analysis/benchmark.py configs/shufflenet_v2.py \\
        --reference "mmpretrain:ShuffleNetV2:widen_factor=1.0"
"""
import argparse
import json
from typing import Dict, List, Tuple

import torch
import torch.nn as nn

from mmbackbones.analysis.references import (SPEC_HELP, build_ours,
                                             build_reference, parse_spec)
from mmbackbones.analysis.timing import (Timed, compare, make_runners,
                                         make_step, run_interleaved)

__all__ = ['SPEC_HELP', 'build_ours', 'build_reference', 'parse_spec',
           'make_step', 'make_runners', 'summarise', 'deploy_speedup', 'main']

#: Both memory formats: each model is reported in its faster one.
MEMORY_FORMATS = ['contiguous_format', 'channels_last']

_NOTE = """
The timed step is only the backbone: no loss head, no optimizer step
(tools/analysis/train_speed.py times the whole training iteration).
On a machine shared with other jobs, OMP_WAIT_POLICY=PASSIVE keeps
spinning OpenMP threads from slowing small operations down 10x and more
(it applies to both models alike); compare the median and the
fastest-step ratios: they should agree.
"""


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def summarise(runners: List[Timed], models: Dict[str, nn.Module],
              labels: Tuple[str, str] = ('ours', 'reference')) -> dict:
    """Each model in its faster format; ``ratio`` is the median step time
    of ``labels[0]`` over ``labels[1]`` (below 1: the first is faster)."""
    best: Dict[str, Timed] = {}
    for runner in runners:
        if (runner.label not in best
                or runner.median < best[runner.label].median):
            best[runner.label] = runner
    versus = compare(best[labels[0]], best[labels[1]])
    return dict(
        results=[
            dict(model=r.label, memory_format=r.info['memory_format'],
                 median_ms=1e3 * r.median, min_ms=1e3 * min(r.times),
                 max_ms=1e3 * max(r.times), steps=len(r.times))
            for r in runners
        ],
        best={label: r.info['memory_format'] for label, r in best.items()},
        params={label: count_params(m) for label, m in models.items()},
        ratio=versus['ratio'],
        # On a busy machine the fastest steps are the least disturbed.
        min_ratio=versus['fastest_ratio'],
    )


def deploy_speedup(original: nn.Module, deployed: nn.Module,
                   inputs: torch.Tensor, warmup: int, steps: int) -> dict:
    """Inference (eval, ``no_grad``) of a model's training form against
    its deploy form on the CPU, interleaved, each in its faster memory
    format: what tools/deploy.py prints and deploy_speed.py tabulates.

    Returns:
        ``{'original_ms', 'original_format', 'deployed_ms',
        'deployed_format', 'speedup', 'fastest_speedup'}``: median step
        times and formats, and original / deployed (above 1: the deploy
        form is faster) of the median and of the fastest steps.
    """
    models = {'deployed': deployed, 'original': original}
    runners = make_runners(models, inputs, 'infer', MEMORY_FORMATS,
                           torch.device('cpu'), lambda: None)
    run_interleaved(runners, warmup, steps)
    summary = summarise(runners, models, labels=('deployed', 'original'))
    result = dict(speedup=1 / summary['ratio'],
                  fastest_speedup=1 / summary['min_ratio'])
    for row in summary['results']:
        if summary['best'][row['model']] == row['memory_format']:
            result[f'{row["model"]}_ms'] = row['median_ms']
            result[f'{row["model"]}_format'] = row['memory_format']
    return result


def format_table(summary: dict, names: Dict[str, str]) -> str:
    width = max(len(n) for n in names.values())
    lines = [f'{"model":<10} {"name":<{width}} {"format":<17} '
             f'{"median ms":>10} {"min ms":>9} {"max ms":>9}']
    for row in summary['results']:
        best = summary['best'][row['model']] == row['memory_format']
        lines.append(
            f'{row["model"]:<10} {names[row["model"]]:<{width}} '
            f'{row["memory_format"]:<17} {row["median_ms"]:>10.1f} '
            f'{row["min_ms"]:>9.1f} {row["max_ms"]:>9.1f}'
            f'{" *" if best else ""}')
    lines.append('(* the faster memory format of each model)')
    lines.append('params: ours {:,}, reference {:,}'.format(
        summary['params']['ours'], summary['params']['reference']))
    lines.append(f'fastest-step ratio ours/reference (same formats): '
                 f'{summary["min_ratio"]:.3f}')
    lines.append(f'ratio ours/reference (median step time, each in its '
                 f'faster format): {summary["ratio"]:.3f}')
    return '\n'.join(lines)


# --------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------- #
def parse_args(argv=None) -> argparse.Namespace:
    from mmbackbones.cli.common import (ArgumentParser, add_cfg_options,
                                        add_config_argument,
                                        add_timing_options, at_least)
    parser = ArgumentParser(prog='benchmark.py', description=__doc__,
                            epilog=SPEC_HELP + _NOTE)
    add_config_argument(parser, 'ours (its model.backbone is benchmarked)')
    parser.add_argument('--reference', required=True, metavar='SPEC',
                        help='the reference backbone (see below)')
    parser.add_argument('--batch', type=at_least(1), default=8,
                        help='batch size (default: 8)')
    parser.add_argument('--size', type=at_least(1), default=224,
                        help='input height and width (default: 224)')
    add_timing_options(parser, steps=10, warmup=3)
    parser.add_argument('--mode', choices=('train', 'infer'),
                        default='train',
                        help='train: forward + backward of the summed '
                        'features in train mode; infer: eval mode, no_grad '
                        '(default: train)')
    parser.add_argument('--memory-formats', nargs='+',
                        choices=MEMORY_FORMATS, default=MEMORY_FORMATS,
                        help='memory formats to try (default: both)')
    parser.add_argument('--device', default='cpu',
                        help='torch device (default: cpu)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the weights and the input')
    parser.add_argument(
        '--flush-denormal', action='store_true',
        help='flush denormal floats to zero: the two models have different '
        'random weights, and denormals in one of them alone skew the ratio '
        'by about 1%% on CPU')
    add_cfg_options(parser)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    device = torch.device(args.device)
    sync = (torch.cuda.synchronize if device.type == 'cuda' else
            (lambda: None))

    models = {'ours': build_ours(args.config, args.cfg_options),
              'reference': build_reference(args.reference)}
    names = {'ours': f'{type(models["ours"]).__name__} ({args.config})',
             'reference': args.reference}
    x = torch.rand(args.batch, 3, args.size, args.size)
    runners = make_runners(models, x, args.mode, args.memory_formats,
                           device, sync)
    run_interleaved(runners, args.warmup, args.steps)

    summary = summarise(runners, models)
    summary['settings'] = dict(
        config=args.config, reference=args.reference, mode=args.mode,
        batch=args.batch, size=args.size, threads=args.threads,
        steps=args.steps, warmup=args.warmup, device=args.device,
        torch=torch.__version__)
    print(f'{args.mode} step, batch {args.batch}, {args.size}x{args.size}, '
          f'{args.threads} threads, {args.device}, {args.steps} steps after '
          f'{args.warmup} warm-up (interleaved)')
    print(format_table(summary, names))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(summary, f, indent=2)
    return summary


def cli(argv=None) -> None:
    from mmbackbones.cli.common import run_tool

    # A bad SPEC is a ValueError: bad input, one line, exit 2.
    run_tool(main, argv, prog='benchmark.py', bad_input=(ValueError, ))
