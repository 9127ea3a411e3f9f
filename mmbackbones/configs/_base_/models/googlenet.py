# GoogLeNet (Inception v1) classifier: label smoothing 0.1 and Mixup (alpha
# 0.2). The paper's two auxiliary classifiers (on inception4a and 4d) are
# not part of the backbone, and this recipe does not train them.
from mmengine.config import read_base

from mmbackbones.models import GoogLeNet

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=GoogLeNet, arch='googlenet'),
             head=dict(in_channels=1024))
