# ShuffleNetV1 0.5x, g=3 (paper Table 2) with the 1.0x g=3 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..shufflenet_v1 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ShuffleNetV1, groups=3, widen_factor=0.5),
    head=dict(model['head'], in_channels=480))
