# Inception v3 on ImageNet-1k at 299 px with the paper's schedule (Sec. 8;
# see _base_/schedules/imagenet_rmsprop_inception.py): RMSProp lr 0.045
# (total batch 1024: 8 GPUs x 128), x0.94 every 2 epochs, gradient
# clipping 2.0, 100 epochs; label smoothing 0.1 (paper Sec. 7) and Mixup
# 0.2; the auxiliary classifier on Mixed_6e with loss weight 0.4 (see
# _base_/models/inception_v3.py).
# ``python tools/train.py configs/inception_v3.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet_299 import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.inception_v3 import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_rmsprop_inception import *  # noqa: F401,F403,E501
default_variant = 'inception_v3'  # its name in mmbackbones.list_models()
