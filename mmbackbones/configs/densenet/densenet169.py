# DenseNet-169 (paper Table 1) with the DenseNet-121 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..densenet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=DenseNet, arch='169'),
    head=dict(model['head'], in_channels=1664))
