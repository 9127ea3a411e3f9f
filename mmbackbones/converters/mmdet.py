"""Weights of mmdet's, mmseg's and mmpose's own backbones (and the mmcv-
format ``open-mmlab://`` ImageNet weights they start from): source
``'mmdet'``.

The three projects share one ResNet/HRNet code lineage; their names equal
ours (mmpretrain's) except in two places, mapped here:

* the deep stem (ResNetV1c/V1d, ResNeSt, Res2Net) is one flat Sequential
  ``stem.{0,1}`` conv/bn, ``.2`` ReLU, ``.3``/``.4``, ``.6``/``.7``; ours is
  three ConvModules ``stem.{0,1,2}.{conv,bn}``;
* with ``avg_down`` their shortcut always starts with an average pool, also
  at stride 1 (keys ``downsample.1``/``.2``), where ours pools only when it
  strides (``downsample.0``/``.1``): shortcut layers are matched by order.

HRNet keys are the same; only detection/segmentation/pose heads that are
not the backbone (``neck.``, ``decode_head.``...) are left out by taking
the ``backbone.`` part of a whole-model checkpoint.
"""
from .base import register_converter, rename_keys, take_prefix
from .resnet import RESNET_TYPES, align_downsample

#: Their flat deep stem -> our ConvModules (ReLUs at .2, .5, .8 hold no
#: weights).
_DEEP_STEM = [
    (r'^stem\.0\.', 'stem.0.conv.'), (r'^stem\.1\.', 'stem.0.bn.'),
    (r'^stem\.3\.', 'stem.1.conv.'), (r'^stem\.4\.', 'stem.1.bn.'),
    (r'^stem\.6\.', 'stem.2.conv.'), (r'^stem\.7\.', 'stem.2.bn.'),
]

#: Classifier heads of mmcv-format ImageNet checkpoints.
_HEAD = [r'^fc\.', r'^head\.']


@register_converter('mmdet', *RESNET_TYPES)
def from_mmdet_resnet(state_dict, backbone):
    state = take_prefix(state_dict, 'backbone.')
    rules = _DEEP_STEM if getattr(backbone, 'deep_stem', False) else []
    return align_downsample(rename_keys(state, rules, drop=_HEAD), backbone)


@register_converter('mmdet', 'HRNet')
def from_mmdet_hrnet(state_dict, backbone):
    return rename_keys(take_prefix(state_dict, 'backbone.'), [],
                       drop=[r'^incre_modules\.', r'^downsamp_modules\.',
                             r'^final_layer\.', r'^classifier\.'])
