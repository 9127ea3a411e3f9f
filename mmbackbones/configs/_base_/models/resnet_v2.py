# ResNetV2-50 (pre-activation) classifier: label smoothing 0.1 and Mixup
# (alpha 0.2). The backbone's last stage ends with the final BN-ReLU.
from mmpretrain.models import (GlobalAveragePooling, ImageClassifier,
                               LabelSmoothLoss, LinearClsHead, Mixup)

from mmbackbones.models import ResNetV2

model = dict(
    type=ImageClassifier,
    backbone=dict(type=ResNetV2, depth=50),
    neck=dict(type=GlobalAveragePooling),
    head=dict(
        type=LinearClsHead,
        num_classes=1000,
        in_channels=2048,
        loss=dict(type=LabelSmoothLoss, label_smooth_val=0.1,
                  mode='original'),
        topk=(1, 5),
    ),
    train_cfg=dict(augments=[dict(type=Mixup, alpha=0.2)]),
)
