# MobileNetV3-Small 0.5 with the Large recipe (a width multiplier of the
# paper's Fig. 6 sweep; an mmpretrain and timm preset).
from mmengine.config import read_base

with read_base():
    from ..mobilenet_v3 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=MobileNetV3, arch='small_050'),
    head=dict(model['head'], in_channels=288, mid_channels=[1024]))
