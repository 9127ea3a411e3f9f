# Inception-ResNet-v2 on ImageNet-1k at 299 px with the paper's optimiser
# (Szegedy et al. 2016, Sec. 4: RMSProp, decay 0.9, epsilon 1.0, lr 0.045
# decayed x0.94 every 2 epochs; see _base_/schedules/
# imagenet_rmsprop_inception.py, which also clips gradients at 2.0 as the
# Inception v3 paper did and uses TF-slim's weight decay 4e-5, the value in
# TF-slim's inception_resnet_v2_arg_scope), label smoothing 0.1 and Mixup
# 0.2. The paper trained asynchronously on 20 replicas and gives no epoch
# count; 100 epochs at a total batch of 1024 (8 GPUs x 128) is our choice.
# ``python tools/train.py configs/inception_resnet_v2.py``
from mmengine.config import read_base
from mmpretrain.datasets import (CenterCrop, LoadImageFromFile, PackInputs,
                                 ResizeEdge)

with read_base():
    from ._base_.datasets.imagenet_299 import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.inception_resnet_v2 import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_rmsprop_inception import *  # noqa: F401,F403,E501

# Google's weights (and timm's port of them) expect inputs in [-1, 1]
# (TF-slim's inception preprocessing; timm's IMAGENET_INCEPTION_MEAN/STD,
# 0.5 and 0.5): mean 127.5 and std 127.5 in 0-255, so converted timm
# weights see what they were trained on.
data_preprocessor.update(mean=[127.5, 127.5, 127.5],
                         std=[127.5, 127.5, 127.5])
# Evaluation as timm's pretrained_cfg for inception_resnet_v2 (crop_pct
# 0.8975, bicubic): short edge 333 (= 299 / 0.8975), centre crop 299.
test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeEdge, scale=333, edge='short', interpolation='bicubic'),
    dict(type=CenterCrop, crop_size=299),
    dict(type=PackInputs),
]
val_dataloader.dataset.pipeline = test_pipeline
test_dataloader = val_dataloader
default_variant = 'inception_resnet_v2'  # its name in mmbackbones.list_models()
