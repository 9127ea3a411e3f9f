# ResNeSt-101 (Zhang et al. Table 7; 128-channel stem) with the ResNeSt-50
# ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..resnest import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ResNeSt, depth=101, radix=2),
    head=dict(model['head'], in_channels=2048))
