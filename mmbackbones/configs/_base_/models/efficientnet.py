# EfficientNet-B0 classifier (paper Table 1): pooled 1280-channel features ->
# linear classifier (as mmpretrain's efficientnet_b0; the paper's dropout
# before the classifier, 0.2 for B0 to 0.5 for B7, is not in this head);
# stochastic depth 0.2 (the paper's survival probability 0.8), BN momentum
# 0.01 (TensorFlow's decay 0.99) and eps 1e-3; label smoothing 0.1 and Mixup
# (alpha 0.2).
from mmengine.config import read_base

from mmbackbones.models import EfficientNet

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=EfficientNet, arch='b0', drop_path_rate=0.2,
                           norm_cfg=dict(type='BN', eps=1e-3,
                                         momentum=0.01)),
             head=dict(in_channels=1280))
