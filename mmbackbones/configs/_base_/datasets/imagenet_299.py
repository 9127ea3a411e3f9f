# ImageNet-1k at 299x299 (Inception v3's resolution, paper Sec. 8): a
# random-resized 299 crop for training; for testing the short edge resized
# to 342 (299 / 0.875, the usual 87.5% centre crop) and a 299 centre crop,
# as mmpretrain's inception-v3 config does.
from mmengine.config import read_base
from mmpretrain.datasets import (CenterCrop, LoadImageFromFile, PackInputs,
                                 RandomFlip, RandomResizedCrop, ResizeEdge)

with read_base():
    from .imagenet import *  # noqa: F401,F403

train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=RandomResizedCrop, scale=299),
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=PackInputs),
]

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeEdge, scale=342, edge='short'),
    dict(type=CenterCrop, crop_size=299),
    dict(type=PackInputs),
]

train_dataloader.dataset.pipeline = train_pipeline
val_dataloader.dataset.pipeline = test_pipeline
test_dataloader = val_dataloader
