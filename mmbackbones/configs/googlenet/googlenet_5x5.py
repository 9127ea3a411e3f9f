# GoogLeNet with the paper's 5x5 convolutions in the third Inception branch
# (Table 1's "#5x5"; torchvision's, and its checkpoints', are 3x3 --
# pytorch/vision#906), with the GoogLeNet recipe.
from mmengine.config import read_base

with read_base():
    from ..googlenet import *  # noqa: F401,F403

model.update(backbone=dict(type=GoogLeNet, arch='googlenet',
                           branch3_kernel_size=5))
