# ResNetV2-50 (pre-activation) classifier: the ResNet-50 classifier (global
# average pooling, fc, label smoothing 0.1, Mixup 0.2) on the pre-activation
# backbone, whose last stage ends with the final BN-ReLU.
from mmengine.config import read_base

from mmbackbones.models import ResNetV2

with read_base():
    from .resnet import *  # noqa: F401,F403

model.update(backbone=dict(type=ResNetV2, depth=50))
