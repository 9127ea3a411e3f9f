# SE-ResNeXt-101 (32x4d) (Hu et al. Table 2) with the SE-ResNet-50 ImageNet
# recipe.
from mmengine.config import read_base

from mmbackbones.models import SEResNeXt

with read_base():
    from ..seresnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=SEResNeXt, depth=101, groups=32, width_per_group=4),
    head=dict(model['head'], in_channels=2048))
