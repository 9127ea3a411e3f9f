# DenseNet-161 (k=48, as torchvision and mmpretrain) with the 121 recipe.
from mmengine.config import read_base

with read_base():
    from ..densenet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=DenseNet, arch='161'),
    head=dict(model['head'], in_channels=2208))
