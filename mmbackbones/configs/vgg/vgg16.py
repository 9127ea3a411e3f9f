# VGG-16, no BN (paper Table 1, column D) with the VGG-16-BN ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..vgg import *  # noqa: F401,F403

model.update(backbone=dict(model['backbone'], depth=16, norm_cfg=None))
