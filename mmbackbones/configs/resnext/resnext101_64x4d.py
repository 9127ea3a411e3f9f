# ResNeXt-101 (64x4d) (Xie et al. Table 5) with the ResNeXt-50 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..resnext import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ResNeXt, depth=101, groups=64, width_per_group=4),
    head=dict(model['head'], in_channels=2048))
