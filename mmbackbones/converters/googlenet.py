"""GoogLeNet weights: torchvision ``googlenet`` (our module names are
torchvision's, so the converter only drops the heads)."""
from .base import register_converter, rename_keys
from .settings import TORCHVISION_TRANSFORM_INPUT, declare_source


@register_converter('torchvision', 'GoogLeNet')
def from_torchvision(state_dict, backbone):
    """Keys as they are, without the classifier (``fc``) and the auxiliary
    classifiers (``aux1``, ``aux2``: a head's, not the backbone's)."""
    return rename_keys(state_dict, [], drop=[r'^fc\.', r'^aux[12]\.'])


declare_source('torchvision', 'GoogLeNet', names=lambda b: ['googlenet'],
               implies=[TORCHVISION_TRANSFORM_INPUT], features='inception5b',
               build=dict(init_weights=False))
