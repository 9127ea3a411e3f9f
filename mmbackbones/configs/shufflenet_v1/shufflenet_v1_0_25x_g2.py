# ShuffleNetV1 0.25x, g=2 (paper Table 2) with the 1.0x g=3 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..shufflenet_v1 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ShuffleNetV1, groups=2, widen_factor=0.25),
    head=dict(model['head'], in_channels=200))
