# ShuffleNetV1 1.0x (g=3) on ImageNet-1k with the paper's schedule (Zhang et
# al. 2018, Sec. 4): 240 epochs (3e5 iterations), total batch 1024, SGD lr
# 0.5 decayed linearly to 0, weight decay 4e-5; plus our convention: a
# 5-epoch warm-up, label smoothing 0.1 and Mixup 0.2.
# ``python tools/train.py configs/shufflenet_v1.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.shufflenet_v1 import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_linear import *  # noqa: F401,F403
default_variant = 'shufflenet_v1_1_0x_g3'  # its name in mmbackbones.list_models()
