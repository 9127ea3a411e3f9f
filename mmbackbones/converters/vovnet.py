"""VoVNet weights: timm ``vovnet39a``/``vovnet57a``/``ese_vovnet*b``."""
import re

from .base import register_converter

# timm name -> ours, applied in order to every key (all may apply).
_RULES = [
    (r'^stages\.(\d+)\.blocks\.(\d+)\.', r'stages.\1.\2.'),
    (r'\.conv_reduction\.', '.reduction.'),
    (r'\.conv_mid\.', '.layers.'),
    (r'\.conv_concat\.', '.concat.'),
    (r'\.attn\.fc\.', '.ese.fc.'),
    (r'\.conv_dw\.', '.depthwise_conv.conv.'),
    (r'\.conv_pw\.', '.pointwise_conv.conv.'),
]


@register_converter('timm', 'VoVNet')
def from_timm(state_dict, backbone):
    # timm's SeparableConvNormAct keeps its BN beside the two convs
    # (``<m>.bn``); ours belongs to the pointwise ConvModule.
    separable = {k[:-len('conv_dw.weight')] for k in state_dict
                 if k.endswith('.conv_dw.weight')}
    out = {}
    for key, value in state_dict.items():
        if key.startswith('head.'):
            continue
        prefix, _, rest = key.rpartition('bn.')
        if rest and prefix in separable:
            key = f'{prefix}pointwise_conv.bn.{rest}'
        for pattern, replacement in _RULES:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out
