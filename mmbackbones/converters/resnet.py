"""ResNet-family weights: torchvision ``resnet*`` / ``resnext*``, timm
``resnet*``, ``seresne(x)t*``, ``resnest*``, ``res2net*``, and mmpretrain.

Our module names are mmpretrain's, so its checkpoints load as they are.
torchvision's ResNet has the same names (only the classifier is dropped).
timm differs in three places, mapped here:

* the deep stem is one flat ``conv1`` Sequential (conv, bn, act, conv, bn,
  act, conv) plus ``bn1``; ours is ``stem.{0,1,2}.{conv,bn}``;
* its average-pooled shortcuts keep an identity in the pool slot at stride
  1 (keys ``downsample.1/.2``) where mmpretrain's ResNet-D has none
  (``downsample.0/.1``): shortcut layers are matched by order;
* SE layers are ``se.fc1`` / ``se.fc2``, ours ``se_layer.conv{1,2}.conv``.
"""
import re
from collections import defaultdict
from typing import Dict, Mapping

import torch
import torch.nn as nn

from .base import mmpretrain_backbone, register_converter, rename_keys
from .settings import declare_source

RESNET_TYPES = ('ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNeXt', 'SEResNet',
                'SEResNeXt', 'ResNeSt', 'Res2Net')

register_converter('mmpretrain', *RESNET_TYPES)(mmpretrain_backbone)

#: Classifier heads of torchvision and timm.
_HEAD = [r'^fc\.', r'^head\.']

#: timm's flat deep stem -> our ConvModules.
_TIMM_DEEP_STEM = [
    (r'^conv1\.0\.', 'stem.0.conv.'), (r'^conv1\.1\.', 'stem.0.bn.'),
    (r'^conv1\.3\.', 'stem.1.conv.'), (r'^conv1\.4\.', 'stem.1.bn.'),
    (r'^conv1\.6\.', 'stem.2.conv.'), (r'^bn1\.', 'stem.2.bn.')
]

_TIMM_SE = [(r'\.se\.fc1\.', '.se_layer.conv1.conv.'),
            (r'\.se\.fc2\.', '.se_layer.conv2.conv.')]

_DOWNSAMPLE = re.compile(r'^(layer\d+\.\d+\.downsample)\.(\d+)\.(.+)$')


def _downsample_slots(keys) -> Dict[str, list]:
    """``{'layer2.0.downsample': [0, 1]}``: the parameterised slots of each
    shortcut, in order."""
    slots = defaultdict(set)
    for key in keys:
        match = _DOWNSAMPLE.match(key)
        if match:
            slots[match.group(1)].add(int(match.group(2)))
    return {prefix: sorted(s) for prefix, s in slots.items()}


def align_downsample(state_dict: Mapping[str, torch.Tensor],
                     backbone: nn.Module) -> Dict[str, torch.Tensor]:
    """Renumber each shortcut's layers to the backbone's slots, by order
    (the n-th parameterised layer of the source goes to our n-th)."""
    ours = _downsample_slots(backbone.state_dict())
    theirs = _downsample_slots(state_dict)
    out = {}
    for key, value in state_dict.items():
        match = _DOWNSAMPLE.match(key)
        prefix = match and match.group(1)
        if prefix in ours and len(ours[prefix]) == len(theirs[prefix]):
            slot = ours[prefix][theirs[prefix].index(int(match.group(2)))]
            key = f'{prefix}.{slot}.{match.group(3)}'
        out[key] = value
    return out


@register_converter('torchvision', 'ResNet', 'ResNeXt')
def from_torchvision(state_dict, backbone):
    # Same names (conv1, bn1, layerN.i.convK/bnK/downsample.j).
    return rename_keys(state_dict, [], drop=_HEAD)


@register_converter('timm', *RESNET_TYPES)
def from_timm(state_dict, backbone):
    rules = list(_TIMM_SE)
    if getattr(backbone, 'deep_stem', False):
        rules = _TIMM_DEEP_STEM + rules
    return align_downsample(rename_keys(state_dict, rules, drop=_HEAD),
                            backbone)


def _resnet_names(backbone, suffixes: Mapping[str, str]) -> list:
    """torchvision's / timm's name of our ResNet-family backbone:
    ``resnet50``, ``resnext50_32x4d``, timm's ``resnet50d``,
    ``seresnext50_32x4d``..."""
    kind = type(backbone).__name__
    if kind not in suffixes:
        return []
    depth = backbone.depth
    if kind in ('ResNeXt', 'SEResNeXt'):
        stem = 'seresnext' if kind == 'SEResNeXt' else 'resnext'
        return [f'{stem}{depth}_{backbone.groups}x'
                f'{backbone.width_per_group}d']
    return [f'{suffixes[kind]}{depth}' + ('c' if kind == 'ResNetV1c' else
                                         'd' if kind == 'ResNetV1d' else '')]


_TORCHVISION_NAMES = dict(ResNet='resnet', ResNeXt='resnext')
_TIMM_NAMES = dict(ResNet='resnet', ResNetV1c='resnet', ResNetV1d='resnet',
                   ResNeXt='resnext', SEResNet='seresnet',
                   SEResNeXt='seresnext')

# No settings beyond the keys (BN eps 1e-5, ReLU, ImageNet normalisation in
# all); declared so that the conversion is verified (a timm resnet50d
# checkpoint has the same keys as ResNetV1c's once shortcuts are aligned by
# order, but an average pool more: the verification refuses it).
declare_source('torchvision', *_TORCHVISION_NAMES,
               names=lambda b: _resnet_names(b, _TORCHVISION_NAMES),
               features='layer4')
declare_source('timm', *_TIMM_NAMES,
               names=lambda b: _resnet_names(b, _TIMM_NAMES),
               features='forward_features')
