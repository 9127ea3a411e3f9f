# HRNet-W18 on ImageNet-1k with the paper's schedule (Wang et al., TPAMI
# 2020, appendix on ImageNet classification; quoted from memory,
# unchecked): 100 epochs, total batch 256, SGD with Nesterov momentum 0.9,
# lr 0.1 divided by 10 at epochs 30, 60 and 90, weight decay 1e-4; plus our
# convention: label smoothing 0.1 and Mixup 0.2. (mmpretrain trains the
# same 100 epochs with a cosine schedule instead of the steps.)
# ``python tools/train.py configs/hrnet.py``
from mmengine.config import read_base
from mmengine.optim import MultiStepLR

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.hrnet import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_step import *  # noqa: F401,F403

max_epochs = 100
param_scheduler = [
    dict(type=MultiStepLR, by_epoch=True, milestones=[30, 60, 90],
         gamma=0.1),
]
train_cfg.update(max_epochs=max_epochs)
default_variant = 'hrnet_w18'  # its name in mmbackbones.list_models()
