# GoogLeNet (Inception v1) classifier with the paper's two auxiliary
# classifiers (Szegedy et al. 2015, Sec. 5): on inception4a and 4d, each a
# 5x5/3 average pool, 1x1 conv (128), fc 1024, dropout 0.7 and fc; their
# losses are added with weight 0.3 in training and they are not run at
# inference. The backbone hands the head the two tapped maps first and the
# inception5b map last (``aux_taps``); the head pools that map itself (no
# neck: a neck would pool the tapped maps too). Label smoothing 0.1 and
# Mixup (alpha 0.2) from the shared classifier, applied to the auxiliary
# losses as well. The main classifier's key stays ``head.fc``, so
# checkpoints of the former LinearClsHead recipe load.
from mmengine.config import read_base

from mmbackbones.models import AuxClsHead, GoogLeNet, GoogLeNetAux

with read_base():
    from .classifier import *  # noqa: F401,F403

model.update(
    backbone=dict(type=GoogLeNet, arch='googlenet',
                  aux_taps=('inception4a', 'inception4d')),
    neck=None)
model['head'] = dict(
    type=AuxClsHead,
    num_classes=model['head']['num_classes'],
    in_channels=1024,
    aux_classifiers=[
        dict(type=GoogLeNetAux, name='aux1', in_channels=512),  # 4a
        dict(type=GoogLeNetAux, name='aux2', in_channels=528),  # 4d
    ],
    aux_weight=0.3,  # paper Sec. 5
    loss=model['head']['loss'],
    topk=(1, 5))
