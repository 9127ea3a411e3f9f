# RepVGG-A0 classifier: label smoothing 0.1 and Mixup (alpha 0.2).
from mmengine.config import read_base

from mmbackbones.models import RepVGG

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=RepVGG, arch='A0'),
             head=dict(in_channels=1280))
