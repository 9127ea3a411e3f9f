# CSPResNet-50 (CSPNet paper Table 1) with the CSPDarknet-53 recipe.
from mmengine.config import read_base

from mmbackbones.models import CSPResNet

with read_base():
    from ..cspnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=CSPResNet, depth=50),
    head=dict(model['head'], in_channels=1024))
