"""VGG weights: torchvision ``vgg*`` / ``vgg*_bn``, mmpretrain ``VGG``.

The FC classifier (``classifier.{0,3,6}``, the same keys in all three) is
kept when the backbone has one (``num_classes > 0``) and dropped otherwise.
"""
from typing import Dict, List, Mapping, Tuple

import torch
from mmcv.cnn import ConvModule

from .base import mmpretrain_backbone, register_converter, rename_keys

_CLASSIFIER = [r'^classifier\.']


def _classifier_drop(backbone) -> List[str]:
    return [] if backbone.num_classes > 0 else _CLASSIFIER


@register_converter('mmpretrain', 'VGG')
def from_mmpretrain(state_dict: Mapping[str, torch.Tensor],
                    backbone) -> Dict[str, torch.Tensor]:
    return rename_keys(mmpretrain_backbone(state_dict, backbone), [],
                       drop=_classifier_drop(backbone))


def _torchvision_rules(backbone) -> List[Tuple[str, str]]:
    """torchvision's ``features`` is flat (conv, [bn,] relu, ..., pool);
    ours holds one ConvModule per conv: walk ours to pair the indices."""
    rules = []
    index = 0  # position in torchvision's features
    for ours, module in enumerate(backbone.features):
        if isinstance(module, ConvModule):
            rules.append((rf'^features\.{index}\.',
                          f'features.{ours}.conv.'))
            index += 1
            if module.with_norm:
                rules.append((rf'^features\.{index}\.',
                              f'features.{ours}.{module.norm_name}.'))
                index += 1
            index += 1  # the ReLU
        else:
            index += 1  # a max-pool
    return rules


@register_converter('torchvision', 'VGG')
def from_torchvision(state_dict: Mapping[str, torch.Tensor],
                     backbone) -> Dict[str, torch.Tensor]:
    return rename_keys(state_dict, _torchvision_rules(backbone),
                       drop=_classifier_drop(backbone))
