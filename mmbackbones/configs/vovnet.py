# VoVNetV2-39 (CenterMask's identity mapping + eSE; timm's ese_vovnet39b) on
# ImageNet-1k with the classic step schedule the VoVNet authors' ImageNet
# code follows (ResNet's: 90 epochs, total batch 256, SGD lr 0.1 divided by
# 10 at epochs 30 and 60, weight decay 1e-4, momentum 0.9 -- from memory,
# unchecked against the papers, which do not print a classification
# recipe); plus our convention: label smoothing 0.1 and Mixup 0.2.
# ``python tools/train.py configs/vovnet.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.vovnet import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_step import *  # noqa: F401,F403
default_variant = 'ese_vovnet39'  # its name in mmbackbones.list_models()
