# ResNeXt-101 (32x8d) with the ResNeXt-50 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..resnext import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ResNeXt, depth=101, groups=32, width_per_group=8),
    head=dict(model['head'], in_channels=2048))
