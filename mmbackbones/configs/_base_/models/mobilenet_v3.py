# MobileNetV3-Large classifier (paper Table 1): pooled features -> 1x1 conv
# to 1280 (a Linear here, as in mmpretrain and torchvision) + h-swish ->
# dropout 0.2 -> classifier; label smoothing 0.1 and Mixup (alpha 0.2).
from mmpretrain.models import (GlobalAveragePooling, ImageClassifier,
                               LabelSmoothLoss, Mixup, StackedLinearClsHead)

from mmbackbones.models import MobileNetV3

model = dict(
    type=ImageClassifier,
    backbone=dict(type=MobileNetV3, arch='large'),
    neck=dict(type=GlobalAveragePooling),
    head=dict(
        type=StackedLinearClsHead,
        num_classes=1000,
        in_channels=960,
        mid_channels=[1280],
        dropout_rate=0.2,
        act_cfg=dict(type='HSwish'),
        loss=dict(type=LabelSmoothLoss, label_smooth_val=0.1,
                  mode='original'),
        init_cfg=dict(type='Normal', layer='Linear', mean=0., std=0.01,
                      bias=0.),
        topk=(1, 5),
    ),
    train_cfg=dict(augments=[dict(type=Mixup, alpha=0.2)]),
)
