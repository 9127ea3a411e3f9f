# DenseNet-121 on ImageNet-1k with the paper's schedule (Huang et al. 2017,
# Sec. 4.2): 90 epochs, total batch 256 (2 GPUs x 128), SGD lr 0.1 divided
# by 10 at epochs 30 and 60, weight decay 1e-4, Nesterov momentum 0.9;
# plus our convention: label smoothing 0.1 and Mixup 0.2.
# ``python tools/train.py configs/densenet.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.densenet import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_step import *  # noqa: F401,F403
default_variant = 'densenet121'  # its name in mmbackbones.list_models()
