"""SqueezeNet weights: torchvision ``squeezenet1_0`` / ``squeezenet1_1``.

Our module names are torchvision's ``features.N.*``; the converter only
drops the classifier (dropout, conv10, ReLU, pooling) and, for a whole
mmpretrain-style classifier checkpoint, takes the ``backbone.`` part.
"""
from .base import register_converter, rename_keys, take_prefix


@register_converter('torchvision', 'SqueezeNet')
def from_torchvision(state_dict, backbone):
    return rename_keys(take_prefix(state_dict, 'backbone.'), [],
                       drop=[r'^classifier\.', r'^head\.'])
