# RepVGG-B3 with the recipe of the paper's Table 5: 200 epochs with
# AutoAugment (the ImageNet policy), label smoothing 0.1 and Mixup 0.2.
from mmengine.config import read_base
from mmpretrain.datasets import AutoAugment

from mmbackbones.models import RepVGG

with read_base():
    from ..repvgg import *  # noqa: F401,F403
    from .._base_.pipeline_steps import insert_before

model.update(
    backbone=dict(type=RepVGG, arch='B3'),
    head=dict(model['head'], in_channels=2560))

# AutoAugment after the crop and flip; it pads with the mean colour (BGR,
# as the images are loaded).
insert_before(
    train_pipeline, 'PackInputs',
    dict(type=AutoAugment, policies='imagenet',
         hparams=dict(pad_val=[round(c) for c in data_preprocessor['mean']
                               [::-1]])))
train_dataloader.update(
    dataset=dict(train_dataloader['dataset'], pipeline=train_pipeline))

max_epochs = 200
param_scheduler[1].update(end=max_epochs)  # the cosine phase
train_cfg.update(max_epochs=max_epochs)
del insert_before
