# VoVNetV2-19-slim-DW (timm's ese_vovnet19b_slim_dw)
# with the VoVNetV2-39 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..vovnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=VoVNet, arch='ese-19-slim-dw'),
    head=dict(model['head'], in_channels=512))
