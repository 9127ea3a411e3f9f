# EfficientNet-B1 (compound scaling, paper Sec. 3.3 / Table 2: width 1.0,
# depth 1.1) at 240 px, with the B0 recipe (configs/efficientnet.py).
from mmengine.config import read_base

with read_base():
    from ..efficientnet import *  # noqa: F401,F403

img_size = 240
model.update(
    backbone=dict(model['backbone'], arch='b1'),
    head=dict(model['head'], in_channels=1280))
train_dataloader.dataset.pipeline[1].scale = img_size
val_dataloader.dataset.pipeline[1].crop_size = img_size
test_dataloader = val_dataloader
