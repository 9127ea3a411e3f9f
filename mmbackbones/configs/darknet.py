# Darknet-53 (YOLOv3) on ImageNet-1k with the Darknet framework's schedule:
# 80 epochs, total batch 128 (1 GPU x 128), SGD lr 0.1 with poly decay
# (power 4), weight decay 5e-4; plus our convention: label smoothing 0.1
# and Mixup 0.2. ``python tools/train.py configs/darknet.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.darknet import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_poly import *  # noqa: F401,F403
default_variant = 'darknet53'  # its name in mmbackbones.list_models()
