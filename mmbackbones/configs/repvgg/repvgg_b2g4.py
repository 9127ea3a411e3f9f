# RepVGG-B2g4 (Table 5) with the B3 recipe of Table 5 (200 epochs,
# AutoAugment, label smoothing, Mixup).
from mmengine.config import read_base

from mmbackbones.models import RepVGG

with read_base():
    from .repvgg_b3 import *  # noqa: F401,F403

model.update(
    backbone=dict(type=RepVGG, arch='B2g4'),
    head=dict(model['head'], in_channels=2560))
