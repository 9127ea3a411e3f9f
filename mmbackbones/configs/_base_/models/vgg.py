# VGG-16-BN classifier as in the paper: the conv stages, then fc6-fc7-fc8
# (4096, 4096, 1000, dropout 0.5) built inside the backbone with
# ``num_classes``, exactly as mmpretrain's VGG recipes do, so mmpretrain's
# VGG checkpoints load unchanged. The backbone's output is then the logits:
# no neck, and a ClsHead (no layers of its own) for the loss. Label
# smoothing 0.1 and Mixup (alpha 0.2).
from mmpretrain.models import ClsHead, ImageClassifier, LabelSmoothLoss, Mixup

from mmbackbones.models import VGG

model = dict(
    type=ImageClassifier,
    backbone=dict(type=VGG, depth=16, norm_cfg=dict(type='BN'),
                  num_classes=1000),
    neck=None,
    head=dict(
        type=ClsHead,
        loss=dict(type=LabelSmoothLoss, label_smooth_val=0.1,
                  mode='original'),
        topk=(1, 5),
    ),
    train_cfg=dict(augments=[dict(type=Mixup, alpha=0.2)]),
)
