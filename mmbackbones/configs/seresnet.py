# SE-ResNet-50 on ImageNet-1k: total batch 1024 (8 GPUs x 128), SGD lr 0.6
# and 100 epochs as in Hu et al. (Sec. 6.1), here with 5 warm-up epochs then
# cosine, label smoothing 0.1 and Mixup 0.2.
# ``python tools/train.py configs/seresnet.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.seresnet import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_cosine import *  # noqa: F401,F403

# Hu et al.: lr 0.6 for a batch of 1024, 100 epochs.
max_epochs = 100
optim_wrapper.update(
    optimizer=dict(optim_wrapper['optimizer'], lr=0.6, weight_decay=1e-4,
                   nesterov=False))
param_scheduler[1].update(end=max_epochs)  # the cosine phase
train_cfg.update(max_epochs=max_epochs)
