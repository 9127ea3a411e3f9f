"""``python tools/deploy.py``: a trained checkpoint in deploy form, verified.

    python tools/deploy.py CONFIG CHECKPOINT --out OUT.pth [--onnx OUT.onnx]

(CONFIG: a config file or a model name, e.g. ``repvgg_a0``)

writes ``OUT.pth`` (the deploy weights) and ``OUT.py`` (the training config
with the model in deploy form): ``MODELS.build(Config.fromfile('OUT.py')
.model)`` and a strict ``load_state_dict`` of ``OUT.pth`` (it loads with
``weights_only=True``) give the deployed model. The deploy form switches
every re-parameterisable block (RepVGG...) and folds every Conv -> BN pair
(``--no-fuse``: only the former), anywhere in the model: a classifier, or a
backbone inside a detector or segmentor config.

Before writing, the deploy model must equal the original on random input in
eval mode to 1e-5 relative error (with the checkpoint's weights), and with
``--onnx`` ONNX Runtime must equal PyTorch to 1e-4 (dynamic batch size); the
tool prints both errors and the measured inference speed-up, and refuses to
write -- exit status 2, one line saying why (the rule of every tool:
mmbackbones.cli.common) -- when anything differs, an output is NaN/inf, or
the checkpoint is not of the config's architecture. Writes are atomic; no
output may be an input. See docs/deploy.md.
"""
import argparse
import logging
from typing import List, Optional

import torch

from .common import (ArgumentParser, add_config_argument, add_rtol_option,
                     add_shape_option, add_switches, at_least, run_tool)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(prog='deploy.py', description=__doc__)
    add_config_argument(parser, 'the training config',
                        checkpoint='the trained checkpoint')
    parser.add_argument('--out', required=True, metavar='OUT.pth',
                        help='deploy weights; the deploy config goes to '
                        'OUT.py beside them')
    parser.add_argument('--onnx', metavar='OUT.onnx',
                        help='also export the deploy model to ONNX (dynamic '
                        'batch size) and check it with ONNX Runtime')
    add_switches(parser, {'--no-fuse': 'only switch the re-parameterisable '
                          'blocks; do not fold Conv -> BN pairs'})
    add_shape_option(parser, 224, 'of the verification, the export and the '
                     'timing')
    add_rtol_option(parser, 1e-5, 'between the deploy and the original '
                    'model')
    parser.add_argument('--speed-steps', type=at_least(0), default=5,
                        help='timed inference steps per model and memory '
                        'format, batch 1 (default: 5; 0: do not time)')
    return parser.parse_args(argv)


def measure_speedup(original: torch.nn.Module, deployed: torch.nn.Module,
                    inputs: torch.Tensor, steps: int) -> str:
    """The line this tool prints: interleaved inference timing of both
    forms, each in its faster memory format (benchmark.deploy_speedup)."""
    from .benchmark import deploy_speedup
    r = deploy_speedup(original, deployed, inputs, warmup=1, steps=steps)
    return (f'inference speed-up {r["speedup"]:.2f}x: original '
            f'{r["original_ms"]:.1f} ms ({r["original_format"]}), deploy '
            f'{r["deployed_ms"]:.1f} ms ({r["deployed_format"]}), batch '
            f'{inputs.shape[0]}, {tuple(inputs.shape[2:])}, '
            f'{torch.get_num_threads()} threads, median of {steps} steps')


def main(argv: Optional[List[str]] = None) -> None:
    """Deploy (see the module docstring); a refusal raises DeployError."""
    args = parse_args(argv)
    # Imported here: --help and a usage error need neither.
    from mmengine.logging import MMLogger

    from mmbackbones.deploy import deploy_checkpoint

    # Building models logs at INFO level; this tool says what matters.
    MMLogger.get_current_instance().setLevel(logging.WARNING)

    # A DeployError (refusal, nothing written) is exit status 2.
    result = deploy_checkpoint(
        args.config, args.checkpoint, args.out, onnx=args.onnx,
        fuse=not args.no_fuse, shape=args.shape, rtol=args.rtol)
    info = result.info
    print(f'switched {len(info.reparameterized)} re-parameterisable '
          f'module(s), fused {len(info.fused)} Conv -> BN pair(s)')
    print(f'deploy vs original: max relative error {result.error:.2e} '
          f'(batch {result.inputs.shape[0]}, '
          f'{tuple(result.inputs.shape[1:])}, eval mode)')
    if result.onnx_error is not None:
        print(f'ONNX Runtime vs PyTorch: max relative error '
              f'{result.onnx_error:.2e}')
    if args.speed_steps:
        print(measure_speedup(result.original, result.deployed,
                              result.inputs[:1], args.speed_steps))
    print('wrote ' + ', '.join(result.written))


def cli(argv: Optional[List[str]] = None) -> None:
    """Run the tool and exit with its status (mmbackbones.cli.common)."""
    run_tool(main, argv, prog='deploy.py')
