# Inception v3 classifier as mmpretrain builds it: the backbone keeps its
# own global pool, dropout 0.5 and ``fc`` (so mmpretrain's inception-v3
# checkpoints load as they are), and the head computes the loss on those
# logits -- label smoothing 0.1 (introduced by this paper, Sec. 7) and
# Mixup (alpha 0.2) from the shared classifier.
#
# The auxiliary classifier on the last 17x17 layer (paper Sec. 4, Fig. 8;
# torchvision's InceptionAux layout) lives in the head, key
# ``head.AuxLogits``: the backbone returns the Mixed_6e map first
# (``aux_taps``) and the logits last. Its loss is added with weight 0.4,
# the weight of Google's reference training code (tensorflow/models
# research/slim/train_image_classifier.py and
# research/inception/inception/inception_model.py; the paper gives none),
# with the same label smoothing; it is not run at inference.
from mmengine.config import read_base

from mmbackbones.models import AuxClsHead, InceptionAux, InceptionV3
from mmbackbones.models.backbones.inception_v3 import INCEPTION_V3_INIT_CFG

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=InceptionV3, num_classes=1000,
                           aux_logits=False, dropout=0.5,
                           aux_taps=('Mixed_6e', )),
             neck=None)
model['head'] = dict(
    type=AuxClsHead,
    num_classes=model['backbone']['num_classes'],
    # No in_channels: the last output is the backbone's fc logits.
    aux_classifiers=[dict(type=InceptionAux, name='AuxLogits',
                          in_channels=768)],
    aux_weight=0.4,  # TF-slim / tensorflow/models inception recipe
    loss=model['head']['loss'],
    topk=(1, 5),
    # mmpretrain's initialisation of the same AuxLogits (in its backbone).
    init_cfg=INCEPTION_V3_INIT_CFG)
