# RepVGG-B3g2 (Sec. 3.4) with the A0 ImageNet recipe (120 epochs).
from mmengine.config import read_base

from mmbackbones.models import RepVGG

with read_base():
    from ..repvgg import *  # noqa: F401,F403

model.update(
    backbone=dict(type=RepVGG, arch='B3g2'),
    head=dict(model['head'], in_channels=2560))
