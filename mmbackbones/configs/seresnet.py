# SE-ResNet-50 on ImageNet-1k: the ResNet-50 recipe (configs/resnet.py:
# total batch 1024, 5 warm-up epochs then cosine, label smoothing 0.1, Mixup
# 0.2) with Hu et al.'s lr and length (Sec. 6.1): lr 0.6 for a batch of
# 1024, 100 epochs.
# ``python tools/train.py configs/seresnet.py``
from mmengine.config import read_base

with read_base():
    from .resnet import *  # noqa: F401,F403
    from ._base_.models.seresnet import *  # noqa: F401,F403

max_epochs = 100
optim_wrapper['optimizer'].update(lr=0.6)
param_scheduler[1].update(end=max_epochs)  # the cosine phase
train_cfg.update(max_epochs=max_epochs)
default_variant = 'seresnet50'  # its name in mmbackbones.list_models()
