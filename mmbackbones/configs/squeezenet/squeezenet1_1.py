# SqueezeNet 1.1 (the authors' repository: conv1 3x3/64, earlier
# max-pools, 2.4x less computation than 1.0) with the 1.0 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..squeezenet import *  # noqa: F401,F403

model.update(backbone=dict(type=SqueezeNet, arch='1_1'))
