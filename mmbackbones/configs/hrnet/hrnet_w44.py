# HRNet-W44 (C = 44: branches of 44, 88, 176, 352 channels) with the W18
# ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..hrnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=HRNet, arch='w44'),
    neck=[
        dict(type=HRFuseScales, in_channels=(44, 88, 176, 352)),
        dict(type=GlobalAveragePooling),
    ])
