"""ShuffleNetV1 weights: mmpretrain (torchvision and timm have none)."""
from .base import mmpretrain_backbone, register_converter

register_converter('mmpretrain', 'ShuffleNetV1')(mmpretrain_backbone)
