# ShuffleNetV1 2.0x, g=3 with the 1.0x g=3 ImageNet recipe. A width
# beyond Table 2 (quoted from memory, unchecked: the paper uses 1.5x and
# 2x in its comparison with MobileNet).
from mmengine.config import read_base

with read_base():
    from ..shufflenet_v1 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=ShuffleNetV1, groups=3, widen_factor=2.0),
    head=dict(model['head'], in_channels=1920))
