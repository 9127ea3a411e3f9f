# VoVNet-27-slim (VoVNet Table 1; not in timm)
# with the VoVNetV2-39 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..vovnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=VoVNet, arch='27-slim'),
    head=dict(model['head'], in_channels=512))
