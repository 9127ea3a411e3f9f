# Res2Net-50 14w8s (Gao et al. Table 5) with the Res2Net-50 ImageNet recipe.
from mmengine.config import read_base

with read_base():
    from ..res2net import *  # noqa: F401,F403

model.update(
    backbone=dict(type=Res2Net, depth=50, scales=8, base_width=14,
                  deep_stem=False, avg_down=False),
    head=dict(model['head'], in_channels=2048))
