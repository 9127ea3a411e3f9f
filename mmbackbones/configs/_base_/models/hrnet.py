# HRNet-W18 classifier as mmpretrain builds it (hrnet-w18.py): the four
# branches fused by HRFuseScales (bottleneck increase to 128/256/512/1024
# channels, strided fusion, 1x1 conv to 2048), global average pooling and a
# linear head; plus our convention: label smoothing 0.1 and Mixup 0.2.
from mmpretrain.models import (GlobalAveragePooling, HRFuseScales,
                               ImageClassifier, LabelSmoothLoss,
                               LinearClsHead, Mixup)

from mmbackbones.models import HRNet

model = dict(
    type=ImageClassifier,
    backbone=dict(type=HRNet, arch='w18'),
    neck=[
        dict(type=HRFuseScales, in_channels=(18, 36, 72, 144)),
        dict(type=GlobalAveragePooling),
    ],
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
