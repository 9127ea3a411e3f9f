# MobileNetV1 1.0x at 224 px on ImageNet-1k. The paper (Sec. 3.2) trains
# with RMSProp as Inception V3 was and with "very little or no weight
# decay" on the depthwise filters (see docs/model_zoo/mobilenet_v1.md for
# how that was checked): Inception v3's schedule here
# (_base_/schedules/imagenet_rmsprop_inception.py: RMSProp lr 0.045 for a
# total batch of 1024 = 8 GPUs x 128, x0.94 every 2 epochs, 100 epochs,
# weight decay 4e-5) with no weight decay on depthwise convolutions --
# also the defaults of the authors' TF-slim mobilenet_v1_arg_scope
# (weight_decay=0.00004, regularize_depthwise=False). The
# paper uses no label smoothing; our recipes add label smoothing 0.1 and
# Mixup 0.2 all the same. Other widths (Table 6) and input sizes (Table 7)
# in configs/mobilenet_v1/.
# ``python tools/train.py configs/mobilenet_v1.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.mobilenet_v1 import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_rmsprop_inception import *  # noqa: F401,F403,E501

# mmengine's optimizer constructor: a conv whose groups equal its input
# channels is depthwise; its weight gets weight_decay * 0.
optim_wrapper.update(paramwise_cfg=dict(dwconv_decay_mult=0.0))
default_variant = 'mobilenet_v1_1_0x'  # its name in mmbackbones.list_models()
