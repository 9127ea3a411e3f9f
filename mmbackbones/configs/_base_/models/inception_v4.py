# Inception v4 classifier: the backbone's 8x8x1536 map (299 px), global
# average pooling and a linear head (timm's inception_v4 classifier, its
# ``last_linear``), with label smoothing 0.1 and Mixup (alpha 0.2) from the
# shared classifier. TF-slim's dropout before the last layer (keep 0.8)
# is not in mmpretrain's LinearClsHead and is left out.
from mmengine.config import read_base

from mmbackbones.models import InceptionV4

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(backbone=dict(type=InceptionV4), head=dict(in_channels=1536))
