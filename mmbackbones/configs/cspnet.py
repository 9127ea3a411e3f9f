# CSPDarknet-53 on ImageNet-1k with the CSPNet paper's schedule (Wang et
# al. 2020, Sec. 4.1: the Darknet framework's defaults): 80 epochs, total
# batch 128 (1 GPU x 128), SGD lr 0.1 with poly decay, weight decay 5e-4;
# plus our convention: label smoothing 0.1 and Mixup 0.2. Other variants:
# configs/cspnet/. ``python tools/train.py configs/cspnet.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.cspnet import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_poly import *  # noqa: F401,F403
default_variant = 'cspdarknet53'  # its name in mmbackbones.list_models()
