# ShuffleNetV2 0.5x (paper Table 5) with the 1.0x ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..shufflenet_v2 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ShuffleNetV2, widen_factor=0.5),
    head=dict(model['head'], in_channels=1024))
