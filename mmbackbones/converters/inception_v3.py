"""InceptionV3 weights: torchvision and timm ``inception_v3``, mmpretrain
``InceptionV3``.

All three use the same module names as ours (``Conv2d_1a_3x3.conv``,
``Mixed_5b.branch1x1.bn``, ``AuxLogits.conv0``, ``fc``), so converting is
choosing keys: the classifier ``fc`` is kept when the backbone has one
(``num_classes > 0``) and the auxiliary classifier when it has
``aux_logits``; otherwise they are dropped.
"""
from typing import Dict, List, Mapping

import torch

from .base import mmpretrain_backbone, register_converter, rename_keys
from .settings import TORCHVISION_TRANSFORM_INPUT, declare_source


def _drop(backbone) -> List[str]:
    drop = []
    if backbone.num_classes <= 0:
        drop.append(r'^fc\.')
    if backbone.AuxLogits is None:
        drop.append(r'^AuxLogits\.')
    return drop


@register_converter('torchvision', 'InceptionV3')
@register_converter('timm', 'InceptionV3')
def from_torchvision_or_timm(state_dict: Mapping[str, torch.Tensor],
                             backbone) -> Dict[str, torch.Tensor]:
    return rename_keys(state_dict, [], drop=_drop(backbone))


@register_converter('mmpretrain', 'InceptionV3')
def from_mmpretrain(state_dict: Mapping[str, torch.Tensor],
                    backbone) -> Dict[str, torch.Tensor]:
    return rename_keys(mmpretrain_backbone(state_dict, backbone), [],
                       drop=_drop(backbone))


# Our output 2 is Mixed_7c, timm's forward_features. timm's input
# normalisation comes from its pretrained_cfg (settings.source_preprocess).
declare_source('torchvision', 'InceptionV3', names=lambda b: ['inception_v3'],
               implies=[TORCHVISION_TRANSFORM_INPUT], features='Mixed_7c',
               build=dict(init_weights=False), index=2)
declare_source('timm', 'InceptionV3', names=lambda b: ['inception_v3'],
               features='forward_features', index=2)
