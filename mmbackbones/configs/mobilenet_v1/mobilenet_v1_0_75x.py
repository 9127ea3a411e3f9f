# MobileNetV1 0.75x (paper Table 6 width multiplier) at 224 px with the
# 1.0x recipe (configs/mobilenet_v1.py).
from mmengine.config import read_base

with read_base():
    from ..mobilenet_v1 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=MobileNetV1, widen_factor=0.75),
    head=dict(model['head'], in_channels=768))
