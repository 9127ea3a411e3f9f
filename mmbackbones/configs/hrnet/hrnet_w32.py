# HRNet-W32 (C = 32: branches of 32, 64, 128, 256 channels) with the W18
# ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..hrnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=HRNet, arch='w32'),
    neck=[
        dict(type=HRFuseScales, in_channels=(32, 64, 128, 256)),
        dict(type=GlobalAveragePooling),
    ])
