# VoVNetV2-57 (timm's ese_vovnet57b)
# with the VoVNetV2-39 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..vovnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=VoVNet, arch='ese-57'),
    head=dict(model['head'], in_channels=1024))
