# ResNeSt-50 on ImageNet-1k as in Zhang et al. (Sec. 5): total batch 1024
# (8 GPUs x 128), SGD lr 0.4 (0.1 per 256 images), 5 warm-up epochs then
# cosine over 270 epochs, label smoothing 0.1, Mixup 0.2.
# ``python tools/train.py configs/resnest.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.resnest import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_cosine import *  # noqa: F401,F403

# Zhang et al.: 270 epochs, lr 0.1 per 256 images.
max_epochs = 270
optim_wrapper.update(
    optimizer=dict(optim_wrapper['optimizer'], lr=0.4, weight_decay=1e-4,
                   nesterov=False))
param_scheduler[1].update(end=max_epochs)  # the cosine phase
train_cfg.update(max_epochs=max_epochs)
