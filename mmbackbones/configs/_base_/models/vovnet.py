# VoVNetV2-39 (ese-39, timm's ese_vovnet39b) classifier: label smoothing 0.1
# and Mixup (alpha 0.2).
from mmengine.config import read_base

from mmbackbones.models import VoVNet

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=VoVNet, arch='ese-39'),
             head=dict(in_channels=1024))
