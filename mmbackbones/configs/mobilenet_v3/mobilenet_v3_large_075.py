# MobileNetV3-Large 0.75 with the Large recipe (paper Table 3).
from mmengine.config import read_base

with read_base():
    from ..mobilenet_v3 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=MobileNetV3, arch='large_075'),
    head=dict(model['head'], in_channels=720, mid_channels=[1280]))
