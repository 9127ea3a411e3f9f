"""Auxiliary-classifier weights into an ``AuxClsHead``.

Its module names are the references': GoogLeNet's ``aux1`` / ``aux2``
(``conv.conv``, ``conv.bn``, ``fc1``, ``fc2``) and main ``fc`` as
torchvision's; Inception v3's ``AuxLogits`` (``conv0``, ``conv1``, ``fc``)
as torchvision's, timm's and mmpretrain's (whose InceptionV3 keeps it in
the backbone: ``backbone.AuxLogits.*``). Converting a whole reference
checkpoint therefore keeps the keys of the head's own modules; the
backbone part goes through the backbone's converter::

    model.backbone.load_state_dict(
        convert_state_dict(sd, 'torchvision', model.backbone))
    model.head.load_state_dict(
        convert_state_dict(sd, 'torchvision', model.head))
"""
from typing import Dict, Mapping

import torch

from .base import register_converter


def _own_keys(state_dict: Mapping[str, torch.Tensor],
              head) -> Dict[str, torch.Tensor]:
    """The keys whose first component is one of the head's modules
    (``aux1``, ``AuxLogits``, ``fc``...); the rest is the backbone's."""
    modules = {key.split('.', 1)[0] for key in head.state_dict()}
    return {k: v for k, v in state_dict.items()
            if k.split('.', 1)[0] in modules}


@register_converter('torchvision', 'AuxClsHead')
@register_converter('timm', 'AuxClsHead')
def from_torchvision_or_timm(state_dict: Mapping[str, torch.Tensor],
                             head) -> Dict[str, torch.Tensor]:
    return _own_keys(state_dict, head)


@register_converter('mmpretrain', 'AuxClsHead')
def from_mmpretrain(state_dict: Mapping[str, torch.Tensor],
                    head) -> Dict[str, torch.Tensor]:
    """A classifier checkpoint (``backbone.AuxLogits.*``, ``head.*``) or a
    bare InceptionV3 backbone state dict (``AuxLogits.*``). Where both
    parts have a module of the same name, the head's wins."""
    renamed = {k: v for k, v in state_dict.items()
               if not k.startswith(('backbone.', 'head.'))}
    for prefix in ('backbone.', 'head.'):
        renamed.update({k[len(prefix):]: v for k, v in state_dict.items()
                        if k.startswith(prefix)})
    return _own_keys(renamed, head)
