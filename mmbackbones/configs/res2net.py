# Res2Net-50 (26w4s) on ImageNet-1k: the ResNet-50 recipe (configs/resnet.py:
# total batch 1024, SGD lr 0.4 = 0.1 per 256 images, 5 warm-up epochs then
# cosine, label smoothing 0.1, Mixup 0.2) over Gao et al.'s ResNet-length
# schedule of 100 epochs (Sec. 4.1).
# ``python tools/train.py configs/res2net.py``
from mmengine.config import read_base

with read_base():
    from .resnet import *  # noqa: F401,F403
    from ._base_.models.res2net import *  # noqa: F401,F403

max_epochs = 100
param_scheduler[1].update(end=max_epochs)  # the cosine phase
train_cfg.update(max_epochs=max_epochs)
default_variant = 'res2net50_26w_4s'  # its name in mmbackbones.list_models()
