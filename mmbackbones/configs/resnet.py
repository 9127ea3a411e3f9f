# ResNet-50 on ImageNet-1k with the "Bag of Tricks" recipe (He et al.
# 2019): total batch 1024 (8 GPUs x 128), SGD lr 0.4 (0.1 per 256 images),
# 5 warm-up epochs then cosine, label smoothing 0.1, Mixup 0.2, no weight
# decay on norms and biases.
# ``python tools/train.py configs/resnet.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.resnet import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_cosine import *  # noqa: F401,F403

# Mixed images need longer training: 200 epochs (Bag of Tricks, 5.3).
max_epochs = 200
optim_wrapper.update(
    optimizer=dict(optim_wrapper['optimizer'], lr=0.4, weight_decay=1e-4,
                   nesterov=False))
param_scheduler[1].update(end=max_epochs)  # the cosine phase
train_cfg.update(max_epochs=max_epochs)
default_variant = 'resnet50'  # its name in mmbackbones.list_models()
