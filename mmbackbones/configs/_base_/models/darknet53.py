# Darknet-53 classifier: the last output (stride 32, 1024 channels), label
# smoothing 0.1 and Mixup (alpha 0.2). Darknet's detection defaults
# (outputs 3-5, norm_eval) are switched to classification here.
from mmpretrain.models import (GlobalAveragePooling, ImageClassifier,
                               LabelSmoothLoss, LinearClsHead, Mixup)

from mmbackbones.models import Darknet

model = dict(
    type=ImageClassifier,
    backbone=dict(type=Darknet, depth=53, out_indices=(5, ),
                  norm_eval=False),
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
