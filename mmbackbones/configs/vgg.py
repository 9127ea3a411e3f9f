# VGG-16-BN on ImageNet-1k, after mmpretrain's VGG recipe: total batch 1024
# (8 GPUs x 128), SGD lr 0.04 (0.01 per 256 images, the paper's rate),
# weight decay 1e-4, 5 warm-up epochs then cosine over 100 epochs, label
# smoothing 0.1, Mixup 0.2, no weight decay on norms and biases.
# ``python tools/train.py configs/vgg.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.vgg import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_cosine import *  # noqa: F401,F403

max_epochs = 100
optim_wrapper.update(
    optimizer=dict(optim_wrapper['optimizer'], lr=0.04, weight_decay=1e-4,
                   nesterov=False))
param_scheduler[1].update(end=max_epochs)  # the cosine phase
train_cfg.update(max_epochs=max_epochs)
default_variant = 'vgg16_bn'  # its name in mmbackbones.list_models()
