# Res2Net-101 26w4s (Gao et al. Table 4) with the Res2Net-50 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..res2net import *  # noqa: F401,F403

model.update(
    backbone=dict(type=Res2Net, depth=101, scales=4, base_width=26,
                  deep_stem=False, avg_down=False),
    head=dict(model['head'], in_channels=2048))
