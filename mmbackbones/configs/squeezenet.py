# SqueezeNet 1.0 on ImageNet-1k with the authors' solver (SqueezeNet
# repository, quoted from memory, unchecked): total batch 512, SGD lr 0.04
# decayed linearly to 0 over 170k iterations (= 68 epochs), momentum 0.9,
# weight decay 2e-4; plus our convention: label smoothing 0.1 and Mixup 0.2.
# ``python tools/train.py configs/squeezenet.py``
from mmengine.config import read_base
from mmengine.optim import PolyLR

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.squeezenet import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_linear import *  # noqa: F401,F403

max_epochs = 68
optim_wrapper.update(
    optimizer=dict(optim_wrapper['optimizer'], lr=0.04, weight_decay=2e-4))
param_scheduler = [
    dict(type=PolyLR, power=1.0, eta_min=0.0, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg.update(max_epochs=max_epochs)
auto_scale_lr.update(base_batch_size=512)
default_variant = 'squeezenet1_0'  # its name in mmbackbones.list_models()
