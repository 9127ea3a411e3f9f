# Res2Net-50 (26w4s) classifier: label smoothing 0.1 and Mixup (alpha 0.2).
from mmpretrain.models import (GlobalAveragePooling, ImageClassifier,
                               LabelSmoothLoss, LinearClsHead, Mixup)

from mmbackbones.models import Res2Net

# The paper's Res2Net-50: 7x7 stem and strided shortcuts (the "v1b" form,
# mmpretrain's constructor default, is configs/res2net/res2net50_v1b_26w_4s).

model = dict(
    type=ImageClassifier,
    backbone=dict(type=Res2Net, depth=50, scales=4,
                  base_width=26, deep_stem=False, avg_down=False),
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
