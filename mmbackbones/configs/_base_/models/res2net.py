# Res2Net-50 (26w4s) classifier: the ResNet-50 one (label smoothing 0.1,
# Mixup 0.2) with Res2Net blocks. The paper's form: 7x7 stem and strided
# shortcuts (the "v1b" form, mmpretrain's constructor default, is
# configs/res2net/res2net50_v1b_26w_4s.py).
from mmengine.config import read_base

from mmbackbones.models import Res2Net

with read_base():
    from .resnet import *  # noqa: F401,F403

model.update(
    backbone=dict(type=Res2Net, depth=50, scales=4, base_width=26,
                  deep_stem=False, avg_down=False))
