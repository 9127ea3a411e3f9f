# ShuffleNetV2 1.0x on ImageNet-1k: 300 epochs, total batch 1024 (8 GPUs x
# 128), SGD lr 0.5 with 5 warm-up epochs then cosine, label smoothing 0.1,
# Mixup 0.2. ``python tools/train.py configs/shufflenet_v2.py``
from mmengine.config import read_base

with read_base():
    from ._base_.datasets.imagenet import *  # noqa: F401,F403
    from ._base_.default_runtime import *  # noqa: F401,F403
    from ._base_.models.shufflenet_v2 import *  # noqa: F401,F403
    from ._base_.schedules.imagenet_sgd_cosine import *  # noqa: F401,F403
default_variant = 'shufflenet_v2_1_0x'  # its name in mmbackbones.list_models()
