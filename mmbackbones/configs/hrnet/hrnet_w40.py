# HRNet-W40 (C = 40: branches of 40, 80, 160, 320 channels) with the W18
# ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..hrnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=HRNet, arch='w40'),
    neck=[
        dict(type=HRFuseScales, in_channels=(40, 80, 160, 320)),
        dict(type=GlobalAveragePooling),
    ])
