# MobileNetV1 1.0x at 192 px (paper Table 7: the resolution multiplier is
# the input size) with the 224 px recipe (configs/mobilenet_v1.py): a
# random-resized 192 crop for training; for testing the short edge to 219
# (192 / 0.875) and a 192 centre crop, as at 224 (256, 224).
from mmengine.config import read_base

with read_base():
    from ..mobilenet_v1 import *  # noqa: F401,F403

train_dataloader.dataset.pipeline[1].scale = 192
val_dataloader.dataset.pipeline[1].scale = 219
val_dataloader.dataset.pipeline[2].crop_size = 192
test_dataloader = val_dataloader
