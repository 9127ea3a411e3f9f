# MobileNetV2 1.0x on ImageNet-1k: 300 epochs, SGD lr 0.045 per 256 images
# (scaled linearly to the real batch: 0.18 for 8 GPUs x 128), x0.98 every
# epoch, weight decay 4e-5 (paper Sec. 6.1 with SGD for RMSProp, as
# mmpretrain), label smoothing 0.1, Mixup 0.2.
# ``python tools/train.py configs/mobilenet_v2.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.mobilenet_v2 import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_epochstep import *  # noqa: F401,F403
default_variant = 'mobilenet_v2_1_0x'  # its name in mmbackbones.list_models()
