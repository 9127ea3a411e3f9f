# HRNet-W30 (C = 30: branches of 30, 60, 120, 240 channels) with the W18
# ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..hrnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=HRNet, arch='w30'),
    neck=[
        dict(type=HRFuseScales, in_channels=(30, 60, 120, 240)),
        dict(type=GlobalAveragePooling),
    ])
