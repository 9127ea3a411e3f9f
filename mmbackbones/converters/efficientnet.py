"""EfficientNet weights: torchvision ``efficientnet_b0..b7``, timm
``efficientnet_*`` / ``tf_efficientnet_*``, and mmpretrain (same keys as
ours).

Our blocks are the shared :class:`~mmbackbones.models.layers.
InvertedResidual` (as MobileNetV2/V3), so the per-layer rules of
:mod:`.mobilenet` serve here too; only the block numbering differs:
torchvision and timm number the blocks per Table-1 stage, we (mmpretrain)
per layer (Table 1's 80+112 and 192+320 stages share a layer). Blocks are
matched in data-flow order.

Padding, BN eps and the EdgeTPU activation are not in a checkpoint: the
declarations below (:mod:`.settings`) give the overrides each source's
weights need, which tools/convert_weights.py writes into the matching
config: symmetric padding (``conv_cfg=None``) for torchvision and timm
``efficientnet_*``, SAME (the default) for timm ``tf_efficientnet_*``; BN
eps 1e-5 for torchvision B0-B4 and timm ``efficientnet_*``, 1e-3 (the
default) otherwise; ReLU for EdgeTPU-S/M/L.
"""
import re
from typing import Dict, List, Mapping, Tuple

from .base import mmpretrain_backbone, register_converter, rename_keys
from .settings import Implied, declare_source
from .mobilenet import (SE_TIMM, SE_TORCHVISION, TIMM_DS, TIMM_IR,
                        conv_bn_rules, prefix_rules, se_rules)

register_converter('mmpretrain', 'EfficientNet')(mmpretrain_backbone)


def _numbered(state_dict: Mapping, pattern: str) -> List[Tuple[int, int]]:
    """The (stage, block) numbers of the source's blocks, in order."""
    return sorted({tuple(int(v) for v in m.groups())
                   for m in (re.match(pattern, k) for k in state_dict) if m})


def _blocks(backbone) -> list:
    """(key prefix, block) of every MBConv / fused MBConv, in order."""
    return [(f'layers.{i}.{j}', block)
            for i in range(1, len(backbone.layers) - 1)
            for j, block in enumerate(backbone.layers[i])]


# timm's EdgeResidual (EfficientNet-EdgeTPU's fused MBConv).
_TIMM_ER = (('conv_exp', 'bn1', 'conv1'), ('conv_pwl', 'bn2', 'conv2'))


def _last(backbone) -> str:
    return f'layers.{len(backbone.layers) - 1}'


@register_converter('torchvision', 'EfficientNet')
def from_torchvision(state_dict, backbone) -> Dict:
    """torchvision: ``features.0`` the stem, ``features.1..7`` the Table-1
    stages of MBConv blocks (``block.{j}``: Conv2dNormActivation ``.0`` /
    ``.1`` slots and the SE's ``fc1``/``fc2``), ``features.8`` the last
    conv; the classifier is dropped."""
    pairs = conv_bn_rules('features.0.0.', 'features.0.1.', 'layers.0')
    theirs = _numbered(state_dict, r'features\.(\d+)\.(\d+)\.block\.')
    for (stage, index), (ours, block) in zip(theirs, _blocks(backbone)):
        src = f'features.{stage}.{index}.block.'
        for j, (name, key) in enumerate(block.layer_keys.items()):
            if name == 'se':
                pairs += se_rules(f'{src}{j}', f'{ours}.se', SE_TORCHVISION)
            else:
                pairs += conv_bn_rules(f'{src}{j}.0.', f'{src}{j}.1.',
                                  f'{ours}.{key}')
    head = f'features.{theirs[-1][0] + 1}.' if theirs else 'features.8.'
    pairs += conv_bn_rules(f'{head}0.', f'{head}1.', _last(backbone))
    return rename_keys(state_dict, prefix_rules(pairs),
                       drop=[r'^classifier\.'])


@register_converter('timm', 'EfficientNet')
def from_timm(state_dict, backbone) -> Dict:
    """timm: ``conv_stem``/``bn1``, ``blocks.{stage}.{block}`` (the first
    stage depthwise-separable: ``conv_dw``, ``se``, ``conv_pw``; the others
    ``conv_pw``, ``conv_dw``, ``se``, ``conv_pwl``; EdgeTPU's fused blocks
    ``conv_exp``, ``conv_pwl``), ``conv_head``/``bn2``
    (before the pooling: ours ``layers.6``); the classifier is dropped."""
    pairs = conv_bn_rules('conv_stem.', 'bn1.', 'layers.0')
    theirs = _numbered(state_dict, r'blocks\.(\d+)\.(\d+)\.')
    for (stage, index), (ours, block) in zip(theirs, _blocks(backbone)):
        src = f'blocks.{stage}.{index}.'
        keys = getattr(block, 'layer_keys', None)  # None: EdgeResidual
        if keys is None:
            table, keys = _TIMM_ER, dict(conv1='conv1', conv2='conv2')
        else:
            table = TIMM_IR if 'expand_conv' in keys else TIMM_DS
        for conv, bn, name in table:
            pairs += conv_bn_rules(f'{src}{conv}.', f'{src}{bn}.',
                              f'{ours}.{keys[name]}')
        pairs += se_rules(f'{src}se', f'{ours}.se', SE_TIMM)
    pairs += conv_bn_rules('conv_head.', 'bn2.', _last(backbone))
    return rename_keys(state_dict, prefix_rules(pairs),
                       drop=[r'^classifier\.'])


def _arch(backbone) -> str:
    return backbone.arch if isinstance(backbone.arch, str) else ''


_SYMMETRIC = dict(conv_cfg=None)
_SAME = dict(conv_cfg=dict(type='Conv2dAdaptivePadding'))
_EPS5 = dict(norm_cfg=dict(type='BN', eps=1e-5))
_EPS3 = dict(norm_cfg=dict(type='BN', eps=1e-3))

declare_source(
    'torchvision', 'EfficientNet',
    names=lambda b: [f'efficientnet_{_arch(b)}'] if _arch(b) in {
        f'b{i}' for i in range(8)} else [],
    implies=[
        Implied(('*', ), "torchvision pads every conv symmetrically "
                '((k - 1) // 2, Conv2dNormActivation), not TF SAME',
                backbone=_SYMMETRIC),
        Implied(('efficientnet_b[0-4]', ), "torchvision's B0-B4 use "
                "BatchNorm2d's default eps 1e-5 (_efficientnet_conf)",
                backbone=_EPS5),
        Implied(('efficientnet_b[5-7]', ), "torchvision's B5-B7 use BN eps "
                '1e-3 (_efficientnet_conf)', backbone=_EPS3),
    ],
    features='features')

declare_source(
    'timm', 'EfficientNet',
    names=lambda b: [f'efficientnet_{_arch(b)}', f'tf_efficientnet_'
                     f'{_arch(b)}'] if _arch(b) else [],
    implies=[
        Implied(('tf_efficientnet_*', ), "timm's tf_ ports of Google's "
                "weights pad TF SAME and use TF's BN eps 1e-3 "
                "(_gen_efficientnet: pad_type='same', BN_EPS_TF_DEFAULT)",
                backbone=dict(**_SAME, **_EPS3)),
        Implied(('efficientnet_*', ), "timm's own efficientnet_* pad "
                "symmetrically and use BN eps 1e-5 (timm's defaults)",
                backbone=dict(**_SYMMETRIC, **_EPS5)),
        Implied(('*efficientnet_e[sml]', ), 'EfficientNet-EdgeTPU uses ReLU '
                "(timm _gen_efficientnet_edge: act_layer='relu')",
                backbone=dict(act_cfg=dict(type='ReLU'))),
    ],
    features='forward_features')
