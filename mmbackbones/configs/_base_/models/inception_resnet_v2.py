# Inception-ResNet-v2 classifier: the backbone's 1536-channel 8x8 map
# (conv2d_7b), global average pooling, a linear classifier (TF-slim's
# dropout before it, keep probability 0.8, is not in this head, as timm's
# default drop_rate 0); label smoothing 0.1 and Mixup (alpha 0.2) from the
# shared classifier.
from mmengine.config import read_base

from mmbackbones.models import InceptionResNetV2

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=InceptionResNetV2, arch='inception_resnet_v2'),
             head=dict(in_channels=1536))
