# BN-Inception (Inception v2, the BN paper's Fig. 5) classifier: global
# average pooling (Fig. 5's 7x7 average pool at 224 px), a linear head
# with label smoothing 0.1 and Mixup (alpha 0.2) from the shared
# classifier. BN-Inception has no auxiliary classifiers.
from mmengine.config import read_base

from mmbackbones.models import BNInception

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=BNInception, arch='bn_inception'),
             head=dict(in_channels=1024))
