# ResNeXt-50 (32x4d) classifier: the ResNet-50 one (label smoothing 0.1,
# Mixup 0.2) with grouped bottlenecks.
from mmengine.config import read_base

from mmbackbones.models import ResNeXt

with read_base():
    from .resnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ResNeXt, depth=50, groups=32, width_per_group=4))
