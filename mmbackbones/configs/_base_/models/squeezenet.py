# SqueezeNet 1.0 classifier: the backbone ends at fire9 (512 channels); the
# head is global average pooling + a linear layer (label smoothing 0.1,
# Mixup 0.2). The paper's classifier is dropout 0.5 -> conv10 (1x1,
# 512 -> 1000) -> ReLU -> global average pooling: the linear layer after
# pooling is conv10 before pooling (both are linear), without the ReLU on
# the class scores and without the dropout.
from mmengine.config import read_base

from mmbackbones.models import SqueezeNet

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=SqueezeNet, arch='1_0'),
             head=dict(in_channels=512))
