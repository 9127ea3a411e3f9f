# Demo: ShuffleNetV2 1.0x on the handwritten digits that scikit-learn ships
# (1,797 8x8 grey images, 10 classes), upscaled to 32x32 RGB and written
# once to data/digits as an image folder with a fixed train/val split.
# Needs no download; about a minute on 2 CPU cores to ~97% top-1.
#   python tools/train.py configs/demo/shufflenet_v2_digits.py
from mmengine.config import read_base
from mmengine.dataset import DefaultSampler
from mmengine.optim import CosineAnnealingLR, LinearLR
from mmpretrain.datasets import (CenterCrop, CustomDataset, LoadImageFromFile,
                                 PackInputs, RandomResizedCrop)
from mmpretrain.evaluation import Accuracy

from mmbackbones.engine import seed_worker

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.models.shufflenet_v2 import *  # noqa: F401,F403
    from .._base_.schedules.imagenet_sgd_cosine import *  # noqa: F401,F403

data_root = 'data/digits'
# tools/train.py writes the image folders before training when missing.
prepare_data = dict(type='sklearn_digits', data_root=data_root)

model.update(
    head=dict(model['head'], num_classes=10, topk=(1, )),
    # Digits are small and clean: label smoothing, but no Mixup.
    train_cfg=None)

data_preprocessor = dict(
    num_classes=10,
    mean=[77.8, 77.8, 77.8],  # of the upscaled digits, 0-255
    std=[95.9, 95.9, 95.9],
    to_rgb=True)

train_pipeline = [
    dict(type=LoadImageFromFile),
    # As in the ImageNet recipe, but gentler (no flips: a mirrored 2 is not
    # a 2) and at the demo's 32 px.
    dict(type=RandomResizedCrop, scale=32, crop_ratio_range=(0.75, 1.0)),
    dict(type=PackInputs),
]
test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=CenterCrop, crop_size=32),
    dict(type=PackInputs),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=1,
    # Fresh workers each epoch, seeded from the epoch: --resume is exact.
    persistent_workers=False,
    worker_init_fn=dict(type=seed_worker),
    dataset=dict(type=CustomDataset, data_root=data_root, data_prefix='train',
                 pipeline=train_pipeline),
    sampler=dict(type=DefaultSampler, shuffle=True),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(type=CustomDataset, data_root=data_root, data_prefix='val',
                 pipeline=test_pipeline),
    sampler=dict(type=DefaultSampler, shuffle=False),
)
val_evaluator = dict(type=Accuracy, topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_epochs = 20
optim_wrapper.update(
    optimizer=dict(optim_wrapper['optimizer'], lr=0.05, weight_decay=5e-5))
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type=CosineAnnealingLR, eta_min=0.0, by_epoch=True, begin=2,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
auto_scale_lr = dict(base_batch_size=64, enable=False)

default_hooks.update(
    logger=dict(default_hooks['logger'], interval=10),
    checkpoint=dict(default_hooks['checkpoint'], interval=5, max_keep_ckpts=2,
                    save_best='accuracy/top1'))
randomness = dict(seed=0, deterministic=False)
