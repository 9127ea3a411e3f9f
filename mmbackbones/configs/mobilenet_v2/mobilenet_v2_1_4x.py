# MobileNetV2 1.4x (paper Sec. 6.1 width multiplier) with the 1.0x recipe.
from mmengine.config import read_base

with read_base():
    from ..mobilenet_v2 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=MobileNetV2, widen_factor=1.4),
    head=dict(model['head'], in_channels=1792))
