# ResNeXt-50 (32x4d) on ImageNet-1k with the ResNet-50 recipe
# (configs/resnet.py: total batch 1024, SGD lr 0.4 = 0.1 per 256 images as
# in Xie et al., 5 warm-up epochs then cosine over 200 epochs, label
# smoothing 0.1, Mixup 0.2).
# ``python tools/train.py configs/resnext.py``
from mmengine.config import read_base

with read_base():
    from .resnet import *  # noqa: F401,F403
    from ._base_.models.resnext import *  # noqa: F401,F403
default_variant = 'resnext50_32x4d'  # its name in mmbackbones.list_models()
