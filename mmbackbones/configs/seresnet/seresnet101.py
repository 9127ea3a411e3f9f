# SE-ResNet-101 (Hu et al. Table 2) with the SE-ResNet-50 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..seresnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=SEResNet, depth=101, se_ratio=16),
    head=dict(model['head'], in_channels=2048))
