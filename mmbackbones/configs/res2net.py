# Res2Net-50 (26w4s) on ImageNet-1k: total batch 1024 (8 GPUs x 128), SGD
# lr 0.4 (0.1 per 256 images) and 100 epochs as in Gao et al. (Sec. 4.1),
# here with 5 warm-up epochs then cosine, label smoothing 0.1 and Mixup 0.2.
# ``python tools/train.py configs/res2net.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.res2net import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_cosine import *  # noqa: F401,F403

# Gao et al. follow the ResNet schedule: 100 epochs, lr 0.1 per 256.
max_epochs = 100
optim_wrapper.update(
    optimizer=dict(optim_wrapper['optimizer'], lr=0.4, weight_decay=1e-4,
                   nesterov=False))
param_scheduler[1].update(end=max_epochs)  # the cosine phase
train_cfg.update(max_epochs=max_epochs)
