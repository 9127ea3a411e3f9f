"""ResNetV2 weights: timm ``resnetv2_{18,34,50,101,152}``.

timm's layers already have our names inside a unit (``norm1``, ``conv1``,
...); only the containers differ: ``stem.conv`` -> ``conv1``,
``stages.<i>.blocks.<j>`` -> ``layer<i+1>.<j>``, the projection's
``downsample.conv`` -> ``downsample``, the final ``norm`` -> the last
stage's ``norm``.
"""
from typing import Dict, Mapping

import torch

from .base import register_converter, rename_keys
from .settings import declare_source


@register_converter('timm', 'ResNetV2')
def from_timm(state_dict: Mapping[str, torch.Tensor],
              backbone) -> Dict[str, torch.Tensor]:
    num_stages = len(backbone.stage_modules())
    rules = [(r'^stem\.conv\.', 'conv1.'),
             (r'^norm\.', f'layer{num_stages}.norm.')]
    for i in range(num_stages):
        rules += [
            (rf'^stages\.{i}\.blocks\.(\d+)\.downsample\.conv\.',
             rf'layer{i + 1}.\1.downsample.'),
            (rf'^stages\.{i}\.blocks\.', f'layer{i + 1}.'),
        ]
    return rename_keys(state_dict, rules, drop=[r'^head\.', r'^fc\.'])


# timm's ResNetV2 weights take inputs in [-1, 1] (its pretrained_cfg).
declare_source('timm', 'ResNetV2',
               names=lambda b: [f'resnetv2_{b.depth}'],
               features='forward_features')
