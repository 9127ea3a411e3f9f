# ResNetV2-18 (pre-activation; ResNet paper Table 1 depths) with the
# ResNetV2-50 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..resnet_v2 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ResNetV2, depth=18),
    head=dict(model['head'], in_channels=512))
