"""HRNet weights: mmpretrain ``HRNet`` and timm ``hrnet_w*``.

Our module names are mmpretrain's; timm's backbone names are the same (its
HR modules, transitions and blocks use the layout of the original HRNet
code), so timm only loses its classification head: the ``incre_modules``
/ ``downsamp_modules`` / ``final_layer`` (mmpretrain's ``HRFuseScales``
neck does that job) and the ``classifier``.
"""
from .base import mmpretrain_backbone, register_converter, rename_keys

register_converter('mmpretrain', 'HRNet')(mmpretrain_backbone)

_TIMM_HEAD = [r'^incre_modules\.', r'^downsamp_modules\.',
              r'^final_layer\.', r'^classifier\.']


@register_converter('timm', 'HRNet')
def from_timm(state_dict, backbone):
    return rename_keys(state_dict, [], drop=_TIMM_HEAD)
