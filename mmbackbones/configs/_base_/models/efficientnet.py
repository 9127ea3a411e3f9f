# EfficientNet-B0 classifier (paper Table 1): pooled 1280-channel features ->
# linear classifier (as mmpretrain's efficientnet_b0; the paper's dropout
# before the classifier, 0.2 for B0 to 0.5 for B7, is not in this head);
# stochastic depth 0.2 (the paper's survival probability 0.8), BN momentum
# 0.01 (TensorFlow's decay 0.99) and eps 1e-3; label smoothing 0.1 and Mixup
# (alpha 0.2).
from mmpretrain.models import (GlobalAveragePooling, ImageClassifier,
                               LabelSmoothLoss, LinearClsHead, Mixup)

from mmbackbones.models import EfficientNet

model = dict(
    type=ImageClassifier,
    backbone=dict(type=EfficientNet, arch='b0', drop_path_rate=0.2,
                  norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01)),
    neck=dict(type=GlobalAveragePooling),
    head=dict(
        type=LinearClsHead,
        num_classes=1000,
        in_channels=1280,
        loss=dict(type=LabelSmoothLoss, label_smooth_val=0.1,
                  mode='original'),
        topk=(1, 5),
    ),
    train_cfg=dict(augments=[dict(type=Mixup, alpha=0.2)]),
)
