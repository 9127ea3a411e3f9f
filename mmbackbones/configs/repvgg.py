# RepVGG-A0 on ImageNet-1k: the paper's 120-epoch schedule (Sec. 4.1: SGD,
# cosine, weight decay 1e-4, lr 0.1 per 256 images) at a total batch of 1024
# (8 GPUs x 128, lr 0.4, 5 warm-up epochs), plus label smoothing 0.1 and
# Mixup 0.2; no weight decay on norms and biases (the branch BNs included).
# ``python tools/train.py configs/repvgg.py``; then
# ``python tools/deploy.py configs/repvgg.py CKPT --out repvgg-a0_deploy.pth``
# for the plain 3x3-conv deploy form (docs/deploy.md).
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.repvgg import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_cosine import *  # noqa: F401,F403

max_epochs = 120
optim_wrapper.update(
    optimizer=dict(optim_wrapper['optimizer'], lr=0.4, weight_decay=1e-4,
                   nesterov=False))
param_scheduler[1].update(end=max_epochs)  # the cosine phase
train_cfg.update(max_epochs=max_epochs)
default_variant = 'repvgg_a0'  # its name in mmbackbones.list_models()
