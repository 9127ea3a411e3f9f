# Res2Net-50 26w4s v1b (deep stem, avg_down) with the Res2Net-50 ImageNet
# recipe.
from mmengine.config import read_base

with read_base():
    from ..res2net import *  # noqa: F401,F403

model.update(
    backbone=dict(type=Res2Net, depth=50, scales=4, base_width=26,
                  deep_stem=True, avg_down=True),
    head=dict(model['head'], in_channels=2048))
