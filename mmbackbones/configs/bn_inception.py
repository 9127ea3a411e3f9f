# BN-Inception (Inception v2; Ioffe & Szegedy 2015, Fig. 5) on ImageNet-1k
# at 224 px. The paper trained on DistBelief with its own changes to the
# Inception recipe (Sec. 4.2.1: higher learning rate, faster decay, less
# weight decay, no dropout); we use the classic step schedule instead
# (90 epochs, total batch 256, SGD lr 0.1 /10 at 30 and 60, weight decay
# 1e-4, Nesterov) with our convention: label smoothing 0.1 and Mixup 0.2.
#
# The input is normalised as the Caffe model's (Cadene's pretrainedmodels
# and TSN weights): BGR as loaded, 0-255, minus the BGR mean (104, 117,
# 128), no scaling -- so weights converted from them (source
# 'pretrainedmodels') test and fine-tune with this recipe as they are.
# ``python tools/train.py configs/bn_inception.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.bn_inception import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_step import *  # noqa: F401,F403

data_preprocessor = dict(num_classes=1000, mean=[104, 117, 128],
                         std=[1, 1, 1], to_rgb=False)
default_variant = 'bn_inception'  # its name in mmbackbones.list_models()
