# MobileNetV3-Large on ImageNet-1k: mmpretrain's practical schedule (the
# paper's is for a TPU pod, see _base_/schedules/imagenet_rmsprop_step.py):
# 600 epochs, total batch 1024 (8 GPUs x 128), RMSProp lr 0.064, x0.973
# every 2 epochs, weight decay 1e-5; label smoothing 0.1, Mixup 0.2.
# ``python tools/train.py configs/mobilenet_v3.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.mobilenet_v3 import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_rmsprop_step import *  # noqa: F401,F403
default_variant = 'mobilenet_v3_large'  # its name in mmbackbones.list_models()
