"""MobileNetV2 / V3 weights: torchvision ``mobilenet_v2`` /
``mobilenet_v3_large|small``, timm ``mobilenetv2_*`` / ``mobilenetv3_*``,
and mmpretrain (same keys as ours).

Both families are built from :class:`~mmbackbones.models.layers.
InvertedResidual`, whose ``layer_keys`` give each layer's key prefix, so
one mapping per source serves both. Each rule is an anchored, escaped
prefix; the mappings are built from the target backbone's structure (the
presence of an expansion conv and an SE layer shifts torchvision's flat
indices). The rule builders and timm's block tables (``conv_bn_rules``,
``se_rules``, ``TIMM_DS``...) are public: EfficientNet's converter, on the
same block, uses them too.
"""
import re
from typing import Dict, Iterable, List, Tuple

import torch.nn as nn

from ..models.layers import InvertedResidual
from .base import mmpretrain_backbone, register_converter, rename_keys
from .settings import Implied, declare_source

register_converter('mmpretrain', 'MobileNetV2', 'MobileNetV3')(
    mmpretrain_backbone)

Rules = List[Tuple[str, str]]


def prefix_rules(pairs: Iterable[Tuple[str, str]]) -> Rules:
    return [(f'^{re.escape(src)}', dst) for src, dst in pairs]


def conv_bn_rules(src_conv: str, src_bn: str, dst: str) -> Rules:
    """A source conv + BN pair onto one of our ConvModules."""
    return [(src_conv, f'{dst}.conv.'), (src_bn, f'{dst}.bn.')]


def _blocks(backbone: nn.Module) -> List[Tuple[str, InvertedResidual]]:
    """(key prefix, block) of every inverted residual, in order."""
    return [(name, m) for name, m in backbone.named_modules()
            if isinstance(m, InvertedResidual)]


def _ends(backbone: nn.Module) -> Tuple[str, str]:
    """Our names of the stem conv and of the final 1x1 conv."""
    if type(backbone).__name__ == 'MobileNetV2':
        return 'conv1', 'conv2'
    return 'layer0', f'layer{len(backbone.blocks) + 1}'


SE_TORCHVISION = (('fc1', 'conv1'), ('fc2', 'conv2'))
SE_TIMM = (('conv_reduce', 'conv1'), ('conv_expand', 'conv2'))


def se_rules(src: str, dst: str, names) -> Rules:
    return [(f'{src}.{theirs}.', f'{dst}.{ours}.conv.')
            for theirs, ours in names]


@register_converter('torchvision', 'MobileNetV2', 'MobileNetV3')
def from_torchvision(state_dict, backbone) -> Dict:
    """torchvision: ``features.0`` the stem, ``features.1..N`` the blocks
    (``conv`` for V2, ``block`` for V3: Conv2dNormActivation ``.0``/``.1``
    slots, and V2's projection as a bare conv + BN), ``features.N+1`` the
    last conv; the classifier is dropped."""
    stem, last = _ends(backbone)
    blocks = _blocks(backbone)
    pairs = conv_bn_rules('features.0.0.', 'features.0.1.', stem)
    for i, (ours, block) in enumerate(blocks, start=1):
        if type(backbone).__name__ == 'MobileNetV2':
            # conv.{j} = Conv2dNormActivation, then conv.{n-1} conv, conv.{n}
            # BN for the linear projection.
            keys = list(block.layer_keys.values())
            src = f'features.{i}.conv.'
            for j, key in enumerate(keys[:-1]):
                pairs += conv_bn_rules(f'{src}{j}.0.', f'{src}{j}.1.',
                                  f'{ours}.{key}')
            n = len(keys)
            pairs += conv_bn_rules(f'{src}{n - 1}.', f'{src}{n}.',
                              f'{ours}.{keys[-1]}')
        else:
            src = f'features.{i}.block.'
            for j, (name, key) in enumerate(block.layer_keys.items()):
                if name == 'se':
                    pairs += se_rules(f'{src}{j}', f'{ours}.se',
                                       SE_TORCHVISION)
                else:
                    pairs += conv_bn_rules(f'{src}{j}.0.', f'{src}{j}.1.',
                                      f'{ours}.{key}')
    n = len(blocks) + 1
    pairs += conv_bn_rules(f'features.{n}.0.', f'features.{n}.1.', last)
    return rename_keys(state_dict, prefix_rules(pairs),
                       drop=[r'^classifier\.'])


# timm's blocks: 'ds' (depthwise-separable: no expansion) and 'ir'.
TIMM_DS = (('conv_dw', 'bn1', 'depthwise_conv'),
            ('conv_pw', 'bn2', 'linear_conv'))
TIMM_IR = (('conv_pw', 'bn1', 'expand_conv'),
            ('conv_dw', 'bn2', 'depthwise_conv'),
            ('conv_pwl', 'bn3', 'linear_conv'))


@register_converter('timm', 'MobileNetV2', 'MobileNetV3')
def from_timm(state_dict, backbone) -> Dict:
    """timm: ``conv_stem``/``bn1``, ``blocks.{stage}.{block}`` (in order,
    the same blocks as ours), then V2's ``conv_head``/``bn2`` or V3's last
    ``blocks`` entry (a conv + BN ``conv``/``bn1``). V3's ``conv_head``
    (after the pooling, with bias, no BN) belongs to the head: dropped.

    timm's MobileNetV3 BatchNorm eps is 1e-5, not torchvision's and
    mmpretrain's 1e-3, and its ``tf_`` ports pad TF SAME: declared below.
    """
    stem, last = _ends(backbone)
    is_v2 = type(backbone).__name__ == 'MobileNetV2'
    pairs = conv_bn_rules('conv_stem.', 'bn1.', stem)
    timm_blocks = sorted({tuple(int(v) for v in m.groups())
                          for m in (re.match(r'blocks\.(\d+)\.(\d+)\.', k)
                                    for k in state_dict) if m})
    blocks = _blocks(backbone)
    for (stage, index), (ours, block) in zip(timm_blocks, blocks):
        src = f'blocks.{stage}.{index}.'
        table = TIMM_IR if 'expand_conv' in block.layer_keys else TIMM_DS
        for conv, bn, name in table:
            pairs += conv_bn_rules(f'{src}{conv}.', f'{src}{bn}.',
                              f'{ours}.{block.layer_keys[name]}')
        if 'se' in block.layer_keys:
            pairs += se_rules(f'{src}se', f'{ours}.se', SE_TIMM)
    if is_v2:
        pairs += conv_bn_rules('conv_head.', 'bn2.', last)
        drop = [r'^classifier\.']
    elif len(timm_blocks) == len(blocks) + 1:
        stage, index = timm_blocks[-1]
        pairs += conv_bn_rules(f'blocks.{stage}.{index}.conv.',
                          f'blocks.{stage}.{index}.bn1.', last)
        drop = [r'^classifier\.', r'^conv_head\.']
    else:  # the mismatch report of convert_state_dict names the keys
        drop = [r'^classifier\.', r'^conv_head\.']
    return rename_keys(state_dict, prefix_rules(pairs), drop=drop)


def _v3_arch(backbone) -> str:
    return backbone.arch if isinstance(backbone.arch, str) else ''


def _timm_v3_names(backbone) -> list:
    """Our ``large`` / ``small_075`` ... are timm's ``mobilenetv3_large_100``
    / ``mobilenetv3_small_075``, and ``tf_`` ports of Google's weights."""
    arch = _v3_arch(backbone)
    if not arch:
        return []
    name = arch if '_' in arch else f'{arch}_100'
    return [f'mobilenetv3_{name}', f'tf_mobilenetv3_{name}']


declare_source(
    'torchvision', 'MobileNetV3',
    names=lambda b: [f'mobilenet_v3_{_v3_arch(b)}'] if _v3_arch(b) in (
        'small', 'large') else [],
    implies=[Implied(('*', ), "torchvision's MobileNetV3 pads "
                     'symmetrically and uses BN eps 1e-3 (mobilenetv3.py: '
                     'partial(nn.BatchNorm2d, eps=0.001))',
                     backbone=dict(conv_cfg=None,
                                   norm_cfg=dict(type='BN', eps=1e-3)))],
    features='features')

declare_source(
    'timm', 'MobileNetV3',
    names=_timm_v3_names,
    implies=[
        Implied(('mobilenetv3_*', ), "timm's own MobileNetV3 weights use BN "
                'eps 1e-5 (timm default) and symmetric padding',
                backbone=dict(conv_cfg=None,
                              norm_cfg=dict(type='BN', eps=1e-5))),
        Implied(('tf_mobilenetv3_*', ), "timm's tf_ ports of Google's "
                "weights pad TF SAME and use BN eps 1e-3 (_gen_mobilenet_v3 "
                "with pad_type='same', BN_EPS_TF_DEFAULT)",
                backbone=dict(conv_cfg=dict(type='Conv2dAdaptivePadding'),
                              norm_cfg=dict(type='BN', eps=1e-3))),
    ],
    features='forward_features')


# MobileNetV2: no settings beyond the keys (BN eps 1e-5 and symmetric
# padding in torchvision, timm and ours); declared so that conversions are
# verified.
declare_source(
    'torchvision', 'MobileNetV2',
    names=lambda b: ['mobilenet_v2'] if b.widen_factor == 1.0 else [],
    features='features')
declare_source(
    'timm', 'MobileNetV2',
    names=lambda b: [f'mobilenetv2_{round(b.widen_factor * 100):03d}'],
    features='forward_features')
