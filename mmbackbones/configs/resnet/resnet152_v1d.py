# ResNet-152-D (deep stem, avg_down) with the ResNet-50 ImageNet recipe.
from mmengine.config import read_base

from mmbackbones.models import ResNetV1d

with read_base():
    from ..resnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ResNetV1d, depth=152),
    head=dict(model['head'], in_channels=2048))
