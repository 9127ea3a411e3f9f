# VGG-11-BN (paper Table 1, column A) with the VGG-16-BN ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..vgg import *  # noqa: F401,F403

model.update(backbone=dict(model['backbone'], depth=11))
