# Inception v3 classifier as mmpretrain builds it: the backbone keeps its
# own global pool, dropout 0.5 and ``fc`` (so mmpretrain's inception-v3
# checkpoints load as they are), and the head only computes the loss on
# those logits -- label smoothing 0.1 (introduced by this paper, Sec. 7)
# and Mixup (alpha 0.2) from the shared classifier.
from mmengine.config import read_base
from mmpretrain.models import ClsHead

from mmbackbones.models import InceptionV3

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=InceptionV3, num_classes=1000,
                           aux_logits=False, dropout=0.5),
             neck=None)
model['head'] = dict(type=ClsHead, loss=model['head']['loss'], topk=(1, 5))
