# ShuffleNetV2 1.0x classifier: label smoothing 0.1 and Mixup (alpha 0.2).
from mmengine.config import read_base

from mmbackbones.models import ShuffleNetV2

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=ShuffleNetV2, widen_factor=1.0),
             head=dict(in_channels=1024))
