# VoVNet-57 (timm's vovnet57a)
# with the VoVNetV2-39 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..vovnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=VoVNet, arch='57'),
    head=dict(model['head'], in_channels=1024))
