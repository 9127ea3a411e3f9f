# ResNetV2-50 (pre-activation, He et al. ECCV 2016) on ImageNet-1k: total
# batch 1024 (8 GPUs x 128), SGD lr 0.4 (the paper's 0.1 per 256 images),
# weight decay 1e-4, 5 warm-up epochs then cosine over 100 epochs, label
# smoothing 0.1, Mixup 0.2, no weight decay on norms.
# ``python tools/train.py configs/resnet_v2.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.resnet_v2 import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_cosine import *  # noqa: F401,F403

max_epochs = 100
optim_wrapper.update(
    optimizer=dict(optim_wrapper['optimizer'], lr=0.4, weight_decay=1e-4,
                   nesterov=False))
param_scheduler[1].update(end=max_epochs)  # the cosine phase
train_cfg.update(max_epochs=max_epochs)
