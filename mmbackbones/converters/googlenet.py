"""GoogLeNet weights: torchvision ``googlenet`` (our module names are
torchvision's, so the converter only drops the heads)."""
from .base import register_converter, rename_keys
from .settings import (INCEPTION_MEAN, INCEPTION_STD, Implied,
                       declare_source)


@register_converter('torchvision', 'GoogLeNet')
def from_torchvision(state_dict, backbone):
    """Keys as they are, without the classifier (``fc``) and the auxiliary
    classifiers (``aux1``, ``aux2``: a head's, not the backbone's)."""
    return rename_keys(state_dict, [], drop=[r'^fc\.', r'^aux[12]\.'])


declare_source('torchvision', 'GoogLeNet', names=lambda b: ['googlenet'],
               implies=[Implied(('*', ), 'torchvision builds its ImageNet weights with '
                     'transform_input=True: the model re-normalises ImageNet-'
                     'normalised input to [-1, 1] (_transform_input); ours '
                     'leaves that to the data preprocessor',
                     preprocess=dict(mean=list(INCEPTION_MEAN),
                                     std=list(INCEPTION_STD)))],
               features='inception5b', build=dict(init_weights=False))
