# GoogLeNet (Inception v1, torchvision's form with BN) on ImageNet-1k.
# The paper (Szegedy et al. 2015, Sec. 6) trained with asynchronous SGD on
# DistBelief: momentum 0.9, the learning rate decreased by 4% every 8
# epochs, Polyak averaging -- not reproducible as such. We use the classic
# practical schedule instead: 90 epochs, total batch 256, SGD lr 0.1
# divided by 10 at epochs 30 and 60, weight decay 1e-4, Nesterov momentum
# 0.9; plus our convention: label smoothing 0.1 and Mixup 0.2. The two
# auxiliary classifiers (paper Sec. 5, loss weight 0.3) are on: see
# _base_/models/googlenet.py.
# ``python tools/train.py configs/googlenet.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.googlenet import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_step import *  # noqa: F401,F403
default_variant = 'googlenet'  # its name in mmbackbones.list_models()
