# ResNet-101 (He et al. Table 1) with the ResNet-50 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..resnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ResNet, depth=101),
    head=dict(model['head'], in_channels=2048))
