# HRNet-W18 classifier as mmpretrain builds it (hrnet-w18.py): the four
# branches fused by HRFuseScales (bottleneck increase to 128/256/512/1024
# channels, strided fusion, 1x1 conv to 2048), global average pooling and a
# linear head; plus our convention: label smoothing 0.1 and Mixup 0.2.
from mmengine.config import read_base
from mmpretrain.models import GlobalAveragePooling, HRFuseScales

from mmbackbones.models import HRNet

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(
    backbone=dict(type=HRNet, arch='w18'),
    neck=[
        dict(type=HRFuseScales, in_channels=(18, 36, 72, 144)),
        dict(type=GlobalAveragePooling),
    ],
    head=dict(in_channels=2048))
