# ResNeSt-50 on ImageNet-1k: the ResNet-50 recipe (configs/resnet.py:
# total batch 1024, SGD lr 0.4 = 0.1 per 256 images, 5 warm-up epochs then
# cosine, label smoothing 0.1, Mixup 0.2) over Zhang et al.'s 270 epochs
# (Sec. 5).
# ``python tools/train.py configs/resnest.py``
from mmengine.config import read_base

with read_base():
    from .resnet import *  # noqa: F401,F403
    from ._base_.models.resnest import *  # noqa: F401,F403

max_epochs = 270
param_scheduler[1].update(end=max_epochs)  # the cosine phase
train_cfg.update(max_epochs=max_epochs)
default_variant = 'resnest50'  # its name in mmbackbones.list_models()
