# ResNetV2-200 (the pre-activation paper's ImageNet network, Table 5) with
# the ResNetV2-50 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..resnet_v2 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ResNetV2, depth=200),
    head=dict(model['head'], in_channels=2048))
