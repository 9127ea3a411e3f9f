# MobileNetV1 1.0x classifier (paper Table 1: average pool -> fully
# connected -> softmax); label smoothing 0.1 and Mixup (alpha 0.2).
from mmengine.config import read_base

from mmbackbones.models import MobileNetV1

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=MobileNetV1, widen_factor=1.0),
             head=dict(in_channels=1024))
