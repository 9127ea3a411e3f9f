# RepVGG-A0 in deploy form: one 3x3 convolution per block, built directly
# (``deploy=True``). It loads the weights that tools/deploy.py writes for
# configs/repvgg.py, or mmpretrain's re-parameterised A0 checkpoints:
#   python tools/test.py configs/repvgg/repvgg_a0_deploy.py A0_deploy.pth
from mmengine.config import read_base

with read_base():
    from ..repvgg import *  # noqa: F401,F403

model.update(backbone=dict(model['backbone'], deploy=True))
