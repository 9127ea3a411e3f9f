# HRNet-W64 (C = 64: branches of 64, 128, 256, 512 channels) with the W18
# ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..hrnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=HRNet, arch='w64'),
    neck=[
        dict(type=HRFuseScales, in_channels=(64, 128, 256, 512)),
        dict(type=GlobalAveragePooling),
    ])
