# ResNet-101-C (deep stem) with the ResNet-50 ImageNet recipe.
from mmengine.config import read_base

from mmbackbones.models import ResNetV1c

with read_base():
    from ..resnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ResNetV1c, depth=101),
    head=dict(model['head'], in_channels=2048))
