# Inception v4 on ImageNet-1k at 299 px (paper Sec. 4, "Training
# Methodology": RMSProp with decay 0.9 and epsilon 1.0, lr 0.045 decayed
# x0.94 every 2 epochs -- Inception v3's schedule, shared in
# _base_/schedules/imagenet_rmsprop_inception.py, which documents its batch
# size, momentum and weight decay); plus our convention: label smoothing
# 0.1 and Mixup 0.2. The paper's network is the only variant, so there is
# no configs/inception_v4/ folder.
# ``python tools/train.py configs/inception_v4.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet_299 import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.inception_v4 import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_rmsprop_inception import *  # noqa: F401,F403,E501
default_variant = 'inception_v4'  # its name in mmbackbones.list_models()
