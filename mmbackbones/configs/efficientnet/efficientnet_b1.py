# EfficientNet-B1 (compound scaling, paper Sec. 3.3 / Table 2: width 1.0,
# depth 1.1) at 240 px, with the B0 recipe (configs/efficientnet.py).
from mmengine.config import read_base

with read_base():
    from ..efficientnet import *  # noqa: F401,F403
    from .._base_.pipeline_steps import update_step

img_size = 240
model.update(
    backbone=dict(model['backbone'], arch='b1'),
    head=dict(model['head'], in_channels=1280))
update_step(train_dataloader.dataset.pipeline, 'EfficientNetRandomCrop',
            scale=img_size)
update_step(val_dataloader.dataset.pipeline, 'EfficientNetCenterCrop',
            crop_size=img_size)
test_dataloader = val_dataloader
del update_step
