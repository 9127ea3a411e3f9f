# CSPDarknet-53 classifier: label smoothing 0.1 and Mixup (alpha 0.2).
from mmpretrain.models import (GlobalAveragePooling, ImageClassifier,
                               LabelSmoothLoss, LinearClsHead, Mixup)

from mmbackbones.models import CSPDarkNet

model = dict(
    type=ImageClassifier,
    backbone=dict(type=CSPDarkNet, depth=53),
    neck=dict(type=GlobalAveragePooling),
    head=dict(
        type=LinearClsHead,
        num_classes=1000,
        in_channels=1024,
        loss=dict(type=LabelSmoothLoss, label_smooth_val=0.1,
                  mode='original'),
        topk=(1, 5),
    ),
    train_cfg=dict(augments=[dict(type=Mixup, alpha=0.2)]),
)
