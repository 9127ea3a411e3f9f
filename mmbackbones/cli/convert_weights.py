"""``python tools/convert_weights.py --source S --config C IN OUT``.

Converts a torchvision / timm / mmpretrain / pretrainedmodels / pytorchcv /
mmdet checkpoint into the backbone weights of the config's model, written
atomically as an mmengine-style checkpoint (``state_dict`` with
``backbone.`` keys) that ``load_from`` or ``init_cfg=dict(type='Pretrained',
checkpoint=OUT, prefix='backbone.')`` accept.

Some settings are not in a checkpoint (BN eps, TF SAME padding, an
activation's slope, the input normalisation): beside ``OUT`` it writes
``OUT``'s stem + ``.py``, the config with the settings the source's weights
imply (mmbackbones.converters.settings: declared per family and source),
and prints each setting it changed and why. When the config contradicts
the source -- its own values, or the backbone defaults it relies on -- the
weights and the matching config are still written (the weights are the
same tensors either way; they are right with the matching config) and the
tool says, on stderr, which keys of the config to change to those values
or to use the matching config instead: the given config would build a
model that does not reproduce the weights.

Verification: where the source's package is installed, the tool builds the
source model (``--source-model``, or inferred from the checkpoint and, if
still ambiguous, from the file name), loads IN into it and compares its
feature map with the converted model's on one random input. Above
``--rtol`` it refuses: exit status 2, nothing written (the rule of every
tool, mmbackbones.cli.common). ``--no-verify`` skips it; without the
package a one-line note says the output was not verified.
"""
import argparse
import logging
import os.path as osp
import sys
from typing import Optional, Sequence

import torch

from mmbackbones.converters import SOURCES, convert_state_dict
from mmbackbones.converters.base import unwrap_state_dict
from mmbackbones.converters.settings import (apply_settings,
                                             build_reference, declaration,
                                             infer_source_model,
                                             known_model,
                                             load_into_reference,
                                             reference_available,
                                             resolve_settings,
                                             verify_conversion)
from mmbackbones.engine.checkpoint import (atomic_write,
                                           load_checkpoint_file,
                                           save_checkpoint_file)
from mmbackbones.registry import MODELS
from .common import (ArgumentParser, ToolError, add_cfg_options,
                     add_config_argument, add_rtol_option, at_least,
                     config_file, load_config, run_tool)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog='convert_weights.py',
        description='Convert foreign weights to an mmbackbones backbone; '
        'writes OUT and the matching config beside it (OUT stem + .py).')
    parser.add_argument('--source', required=True, choices=SOURCES,
                        help='where the weights come from')
    add_config_argument(parser, 'the config whose model.backbone receives '
                        'them', option=True)
    parser.add_argument('input', help='source checkpoint (.pth)')
    parser.add_argument('output', help='converted checkpoint to write')
    parser.add_argument('--source-model', metavar='NAME',
                        help="the source's model name (timm "
                        "'tf_efficientnet_b0', torchvision 'efficientnet_b0'"
                        '): decides the settings its weights need and the '
                        'reference that verifies them (default: inferred '
                        'from the checkpoint and its file name)')
    parser.add_argument('--no-verify', action='store_true',
                        help='do not run the source model to check the '
                        'conversion')
    add_rtol_option(parser, 1e-5, 'between the features in the '
                    'verification')
    parser.add_argument('--verify-size', type=at_least(1), default=64,
                        metavar='PIXELS',
                        help='input height and width of the verification '
                        "(default: 64, or the backbone's minimum)")
    add_cfg_options(parser)
    return parser.parse_args(argv)


def output_paths(args) -> tuple:
    root, ext = osp.splitext(args.output)
    config_out = root + '.py'
    if ext == '.py' or not osp.basename(root):
        raise ToolError(f'output must be a checkpoint file such as out.pth '
                        f'(its config goes beside it), got {args.output!r}')
    for path, what in ((args.output, 'output'), (config_out, 'its config')):
        for other, label in ((args.input, 'input'), (args.config, 'config')):
            if osp.abspath(path) == osp.abspath(other):
                raise ToolError(f'{what} {path} would overwrite the {label}:'
                                ' the converter never overwrites its input')
    return args.output, config_out


def _build_backbone(model_cfg, meta: bool = False):
    """``(model, backbone)``; ``meta``: structure only, on the meta device
    (no initialisation: a 40M-parameter Darknet costs nothing), where the
    model builds there."""
    if meta:
        try:
            with torch.device('meta'):
                return _build_backbone(model_cfg)
        except Exception:  # e.g. a drop-path schedule read with .item()
            pass
    model = MODELS.build(model_cfg)
    backbone = getattr(model, 'backbone', model)
    return model, backbone


def _with_weights(backbone_cfg, state) -> torch.nn.Module:
    """The backbone of ``backbone_cfg`` holding ``state`` (strict): built on
    the meta device and given the tensors, else built and loaded."""
    try:
        with torch.device('meta'):
            backbone = MODELS.build(backbone_cfg)
        backbone.load_state_dict(state, strict=True, assign=True)
        if not any(t.is_meta for t in (*backbone.parameters(),
                                       *backbone.buffers())):
            return backbone
    except Exception:  # builds only on a real device: do that
        pass
    backbone = MODELS.build(backbone_cfg)
    backbone.load_state_dict(state, strict=True)
    return backbone


def _convert(checkpoint, source, backbone):
    try:
        return convert_state_dict(checkpoint, source, backbone)
    except ValueError as err:
        raise ToolError(str(err)) from None


def _source_model(args, backbone, state) -> Optional[str]:
    """The source model's name, or None when no declaration depends on it
    (ToolError when it matters and cannot be told)."""
    declared = declaration(backbone, args.source)
    if args.source_model:
        if reference_available(args.source) and not known_model(
                args.source, args.source_model):
            raise ToolError(f'--source-model {args.source_model!r} is not a '
                            f'{args.source} model')
        return args.source_model
    if declared is None:
        return None
    name, why = infer_source_model(backbone, args.source, state, args.input)
    needs_name = any(r.models != ('*', ) for r in declared.implies)
    if name is None and needs_name:
        raise ToolError(
            f'cannot tell which {args.source} model {args.input} holds '
            f'({why}), and the settings its weights need depend on it: pass'
            f' --source-model, one of {declared.names(backbone)}')
    if name:
        print(f'source model: {args.source} {name} ({why})')
    return name


def _verify(args, backbone, backbone_cfg, converted, source_model,
            state) -> Optional[float]:
    """The verification's error, or None (with a note) when not run."""
    declared = declaration(backbone, args.source)
    if args.no_verify:
        print('not verified (--no-verify)')
        return None
    reason = None
    if declared is None or declared.features is None:
        reason = (f'no {args.source} reference is declared for '
                  f'{type(backbone).__name__}')
    elif not reference_available(args.source):
        reason = f'{args.source} is not installed'
    elif source_model is None:
        reason = f'the {args.source} model is unknown (see --source-model)'
    if reason:
        print(f'note: the output was not verified: {reason}')
        return None
    # Our output that equals the reference's feature map (declared).
    backbone = _with_weights(
        dict(backbone_cfg, out_indices=(declared.index, )), converted)
    reference = build_reference(args.source, source_model, declared.build)
    left = load_into_reference(reference, state)
    size = max(args.verify_size, getattr(backbone, 'min_input_size', 1))
    try:
        error = verify_conversion(backbone, reference, declared.features,
                                  size)
    except (RuntimeError, ValueError) as err:
        raise ToolError(f'cannot compare with {args.source} {source_model}:'
                        f' {str(err).splitlines()[0]}; nothing written '
                        '(--no-verify skips the check)') from None
    if error > args.rtol:
        raise ToolError(
            f'the converted model differs from {args.source} {source_model} '
            f'with these weights: max relative error of the features '
            f'{error:.2e} > {args.rtol:.0e}; nothing written'
            + (f' ({len(left)} keys of the reference were not in the '
               f'checkpoint, e.g. {left[:3]})' if left else '')
            + '. Is --source-model right?')
    print(f'verified against {args.source} {source_model}: max relative '
          f'error of the features {error:.2e} (batch 2, {size}x{size}, '
          'eval mode)')
    return error


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    args.config = config_file(args.config)  # a model name: its file
    out_pth, out_py = output_paths(args)
    cfg = load_config(args.config, args.cfg_options)
    checkpoint = load_checkpoint_file(args.input)
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    init_default_scope(cfg.get('default_scope', 'mmbackbones'))
    # The user's model: its type, arch and shapes decide the rest.
    model, backbone = _build_backbone(cfg.model, meta=True)
    try:  # refuse early a checkpoint of another arch
        convert_state_dict(checkpoint, args.source, backbone)
    except ValueError as err:
        raise ToolError(str(err)) from None
    except Exception:  # a converter that needs real tensors: checked below
        pass
    state = unwrap_state_dict(checkpoint)
    source_model = _source_model(args, backbone, state)
    settings = resolve_settings(cfg, backbone, args.source, source_model)

    matching = apply_settings(cfg, settings)
    model, backbone = _build_backbone(matching.model)
    converted = _convert(checkpoint, args.source, backbone)
    backbone.load_state_dict(converted, strict=True)
    backbone_cfg = matching.model.get('backbone', matching.model)
    error = _verify(args, backbone, backbone_cfg, converted, source_model,
                    state)

    from mmengine.config import Config

    from mmbackbones.deploy.config import config_text
    what = f'{args.source} {source_model or "weights"}'
    text = config_text(matching, header=(
        f'Written by tools/convert_weights.py: {args.config} with the '
        f'settings\nthat the {what} ({osp.basename(args.input)}) need, for '
        f'the weights\n{osp.basename(out_pth)}. Changed: '
        + (', '.join(c.key for c in settings.changes) or 'nothing')))
    Config.fromstring(text, '.py')  # a config the tools can read back
    prefix = 'backbone.' if backbone is not model else ''
    meta = dict(source=args.source, source_model=source_model,
                config=osp.basename(out_py),
                from_config=osp.basename(args.config),
                backbone=type(backbone).__name__,
                settings=dict(backbone=settings.backbone,
                              preprocess=settings.preprocess),
                max_relative_error=error)
    save_checkpoint_file(
        dict(state_dict={prefix + k: v for k, v in converted.items()},
             meta=meta), out_pth)
    atomic_write(out_py, lambda f: f.write(text.encode('utf-8')))
    print(f'wrote {len(converted)} tensors of {meta["backbone"]} to '
          f'{out_pth} and the matching config {out_py}')
    if settings.changes:
        print(f'settings the {what} need, changed in {out_py}:')
        for change in settings.changes:
            print(f'  {change}')
        keys = '; '.join(f'{c.key}={c.value!r}' for c in settings.changes)
        print(f'warning: {args.config} builds a model that does not '
              f'reproduce these weights: use {out_py}, or set in '
              f'{args.config}: {keys}', file=sys.stderr)
    else:
        print(f'settings: {args.config} already has what the {what} need')


def cli(argv: Optional[Sequence[str]] = None) -> None:
    run_tool(main, argv, prog='convert_weights.py')
