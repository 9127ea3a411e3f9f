# ResNeSt-50 classifier: the ResNet-50 one (label smoothing 0.1, Mixup 0.2)
# with split-attention bottlenecks.
from mmengine.config import read_base

from mmbackbones.models import ResNeSt

with read_base():
    from .resnet import *  # noqa: F401,F403

model.update(backbone=dict(type=ResNeSt, depth=50, radix=2))
