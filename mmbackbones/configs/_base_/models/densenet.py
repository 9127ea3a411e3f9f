# DenseNet-121 classifier: label smoothing 0.1 and Mixup (alpha 0.2).
from mmengine.config import read_base

from mmbackbones.models import DenseNet

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=DenseNet, arch='121'),
             head=dict(in_channels=1024))
