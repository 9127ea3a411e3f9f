# SE-ResNet-50 classifier: the ResNet-50 one (label smoothing 0.1, Mixup 0.2)
# with squeeze-and-excitation bottlenecks.
from mmengine.config import read_base

from mmbackbones.models import SEResNet

with read_base():
    from .resnet import *  # noqa: F401,F403

model.update(backbone=dict(type=SEResNet, depth=50, se_ratio=16))
