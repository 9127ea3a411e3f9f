# EfficientNet-B0 on ImageNet-1k at 224 px with the paper's schedule
# (Sec. 5.2; see _base_/schedules/imagenet_rmsprop_efficientnet.py): 350
# epochs, total batch 1024 (8 GPUs x 128), RMSProp lr 0.064 with 5 warm-up
# epochs then x0.97 every 2.4 epochs, weight decay 1e-5, stochastic depth
# 0.2; label smoothing 0.1, Mixup 0.2 (instead of the paper's AutoAugment).
# ``python tools/train.py configs/efficientnet.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet_efficientnet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.efficientnet import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_rmsprop_efficientnet import *  # noqa: F401,F403,E501
default_variant = 'efficientnet_b0'  # its name in mmbackbones.list_models()
