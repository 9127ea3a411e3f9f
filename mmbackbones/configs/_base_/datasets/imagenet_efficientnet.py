# ImageNet-1k at EfficientNet's resolutions: the official TensorFlow
# pre-processing as mmpretrain ports it -- a bicubic random crop covering
# >= 10% of the image for training; for testing a centre crop of
# img_size / (img_size + 32) of the short edge, resized to img_size.
# Leaf configs change ``img_size`` and rebuild the pipelines (see
# configs/efficientnet/*.py).
from mmengine.config import read_base
from mmpretrain.datasets import (EfficientNetCenterCrop,
                                 EfficientNetRandomCrop, LoadImageFromFile,
                                 PackInputs, RandomFlip)

with read_base():
    from .imagenet import *  # noqa: F401,F403

img_size = 224  # B0 (paper Table 1); B1-B7 in the leaf configs

train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=EfficientNetRandomCrop, scale=img_size),
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=PackInputs),
]

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=EfficientNetCenterCrop, crop_size=img_size),
    dict(type=PackInputs),
]

train_dataloader.dataset.pipeline = train_pipeline
val_dataloader.dataset.pipeline = test_pipeline
test_dataloader = val_dataloader
