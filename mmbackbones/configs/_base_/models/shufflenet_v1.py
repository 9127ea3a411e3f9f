# ShuffleNetV1 1.0x (g=3) classifier: label smoothing 0.1 and Mixup (alpha
# 0.2).
from mmengine.config import read_base

from mmbackbones.models import ShuffleNetV1

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=ShuffleNetV1, groups=3, widen_factor=1.0),
             head=dict(in_channels=960))
