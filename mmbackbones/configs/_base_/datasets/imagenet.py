# ImageNet-1k read from data/imagenet (train/ and val/ class folders, or
# meta/train.txt + meta/val.txt lists; see README.md). 128 images per GPU:
# 8 GPUs make the total batch of 1024 the schedules are written for.
from mmpretrain.datasets import (CenterCrop, ImageNet, LoadImageFromFile,
                                 PackInputs, RandomFlip, RandomResizedCrop,
                                 ResizeEdge)
from mmpretrain.evaluation import Accuracy
from mmengine.dataset import DefaultSampler

from mmbackbones.engine import seed_worker

dataset_type = ImageNet
data_root = 'data/imagenet'

data_preprocessor = dict(
    num_classes=1000,
    # RGB mean and std of ImageNet, in 0-255.
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=RandomResizedCrop, scale=224),
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=PackInputs),
]

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeEdge, scale=256, edge='short'),
    dict(type=CenterCrop, crop_size=224),
    dict(type=PackInputs),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    # Per-epoch augmentation seeds (mmengine's default repeats them).
    worker_init_fn=dict(type=seed_worker),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline),
    sampler=dict(type=DefaultSampler, shuffle=True),
)

val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 pipeline=test_pipeline),
    sampler=dict(type=DefaultSampler, shuffle=False),
)
val_evaluator = dict(type=Accuracy, topk=(1, 5))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
