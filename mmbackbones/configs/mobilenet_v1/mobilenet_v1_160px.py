# MobileNetV1 1.0x at 160 px (paper Table 7: the resolution multiplier is
# the input size) with the 224 px recipe (configs/mobilenet_v1.py): a
# random-resized 160 crop for training; for testing the short edge to 183
# (160 / 0.875) and a 160 centre crop, as at 224 (256, 224).
from mmengine.config import read_base

with read_base():
    from ..mobilenet_v1 import *  # noqa: F401,F403
    from .._base_.pipeline_steps import update_step

update_step(train_dataloader.dataset.pipeline, 'RandomResizedCrop', scale=160)
update_step(val_dataloader.dataset.pipeline, 'ResizeEdge', scale=183)
update_step(val_dataloader.dataset.pipeline, 'CenterCrop', crop_size=160)
test_dataloader = val_dataloader
del update_step
