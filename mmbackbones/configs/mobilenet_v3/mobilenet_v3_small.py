# MobileNetV3-Small 1.0 with the Large recipe (paper Table 2; head 1024 wide).
from mmengine.config import read_base

with read_base():
    from ..mobilenet_v3 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=MobileNetV3, arch='small'),
    head=dict(model['head'], in_channels=576, mid_channels=[1024]))
