# Darknet-53 classifier: the last output (stride 32, 1024 channels), label
# smoothing 0.1 and Mixup (alpha 0.2). Darknet's detection defaults
# (outputs 3-5, norm_eval) are switched to classification here.
from mmengine.config import read_base

from mmbackbones.models import Darknet

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=Darknet, depth=53, out_indices=(5, ),
                           norm_eval=False),
             head=dict(in_channels=1024))
