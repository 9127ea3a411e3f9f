"""InceptionResNetV2 weights from timm ``inception_resnet_v2``.

Our module names are timm's (``conv2d_1a.conv``, ``mixed_5b.branch1.0.bn``,
``repeat.3.conv2d``, ``block8``, ``conv2d_7b``), so converting drops the
classifier (``classif``) and keeps every other key as it is. Cadene's
``pretrainedmodels`` ``inceptionresnetv2`` (where timm's port comes from)
has the same names with ``last_linear`` for the classifier: it converts
through the same function, registered for both sources.
"""
from typing import Dict, Mapping

import torch

from .base import register_converter, rename_keys
from .settings import declare_source


@register_converter('pretrainedmodels', 'InceptionResNetV2')
@register_converter('timm', 'InceptionResNetV2')
def from_timm(state_dict: Mapping[str, torch.Tensor],
              backbone) -> Dict[str, torch.Tensor]:
    return rename_keys(state_dict, [],
                       drop=[r'^classif\.', r'^last_linear\.'])


# The input normalisation ([-1, 1]) comes from timm's pretrained_cfg and
# Cadene's pretrained_settings (settings.source_preprocess).
declare_source('timm', 'InceptionResNetV2',
               names=lambda b: ['inception_resnet_v2'],
               features='forward_features')
declare_source('pretrainedmodels', 'InceptionResNetV2',
               names=lambda b: ['inceptionresnetv2'], features='features')
