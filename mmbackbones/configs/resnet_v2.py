# ResNetV2-50 (pre-activation, He et al. ECCV 2016) on ImageNet-1k with the
# ResNet-50 recipe of configs/resnet.py, as the paper trains pre-activation
# ResNets exactly like the original ones: total batch 1024, SGD lr 0.4 (0.1
# per 256 images), weight decay 1e-4, warm-up then cosine, label smoothing
# 0.1, Mixup 0.2. ``python tools/train.py configs/resnet_v2.py``
from mmengine.config import read_base

with read_base():
    from .resnet import *  # noqa: F401,F403
    from ._base_.models.resnet_v2 import *  # noqa: F401,F403
default_variant = 'resnet_v2_50'  # its name in mmbackbones.list_models()
