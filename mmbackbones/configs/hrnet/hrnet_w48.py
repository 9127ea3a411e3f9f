# HRNet-W48 (C = 48: branches of 48, 96, 192, 384 channels) with the W18
# ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..hrnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=HRNet, arch='w48'),
    neck=[
        dict(type=HRFuseScales, in_channels=(48, 96, 192, 384)),
        dict(type=GlobalAveragePooling),
    ])
