# The ImageNet classifier the family recipes share: global average pooling,
# a linear head with label smoothing 0.1, Mixup (alpha 0.2). A family's
# model file names its backbone and the channels the head receives:
#
#     with read_base():
#         from .classifier import *  # noqa: F401,F403
#     model.update(backbone=dict(type=DenseNet, arch='121'),
#                  head=dict(in_channels=1024))
from mmpretrain.models import (GlobalAveragePooling, ImageClassifier,
                               LabelSmoothLoss, LinearClsHead, Mixup)

model = dict(
    type=ImageClassifier,
    backbone=None,
    neck=dict(type=GlobalAveragePooling),
    head=dict(
        type=LinearClsHead,
        num_classes=1000,
        in_channels=None,
        loss=dict(type=LabelSmoothLoss, label_smooth_val=0.1,
                  mode='original'),
        topk=(1, 5),
    ),
    train_cfg=dict(augments=[dict(type=Mixup, alpha=0.2)]),
)
