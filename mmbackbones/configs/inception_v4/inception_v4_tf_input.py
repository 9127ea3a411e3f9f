# Inception v4 with the input the TF-slim weights were trained on (timm's
# ``inception_v4.tf_in1k`` pretrained_cfg: mean = std = 0.5 on 0-1 pixels,
# i.e. [-1, 1]; bicubic resizing; 87.5% centre crop of 299): for
# evaluating or fine-tuning timm weights converted with
# ``tools/convert_weights.py --source timm``. Otherwise the recipe.
from mmengine.config import read_base
from mmpretrain.datasets import (CenterCrop, LoadImageFromFile, PackInputs,
                                 ResizeEdge)

with read_base():
    from ..inception_v4 import *  # noqa: F401,F403

data_preprocessor.update(mean=[127.5, 127.5, 127.5],
                         std=[127.5, 127.5, 127.5])

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeEdge, scale=342, edge='short', interpolation='bicubic'),
    dict(type=CenterCrop, crop_size=299),
    dict(type=PackInputs),
]
val_dataloader.dataset.pipeline = test_pipeline
test_dataloader = val_dataloader
