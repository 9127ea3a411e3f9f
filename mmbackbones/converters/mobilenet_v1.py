"""MobileNetV1 weights from timm ``mobilenetv1_100`` / ``mobilenetv1_125``
(and any width built by timm's ``_gen_mobilenet_v1``).

timm: ``conv_stem``/``bn1`` the stem, ``blocks.{s}.{b}`` the thirteen
depthwise-separable blocks in five stages -- the same grouping as our
``layer{s+1}.{b}`` -- each ``conv_dw``/``bn1`` then ``conv_pw``/``bn2``.
The classifier is dropped. ``mobilenetv1_100h`` adds a 1x1 ``conv_head``
(+ ``bn2``) before the pooling that the paper's network does not have: its
keys are reported as not fitting rather than silently left out.
"""
import re
from typing import Dict

from .base import register_converter, rename_keys
from .mobilenet import conv_bn_rules, prefix_rules
from .settings import declare_source


@register_converter('timm', 'MobileNetV1')
def from_timm(state_dict, backbone) -> Dict:
    pairs = conv_bn_rules('conv_stem.', 'bn1.', 'conv1')
    blocks = sorted({(int(m.group(1)), int(m.group(2)))
                     for m in (re.match(r'blocks\.(\d+)\.(\d+)\.', k)
                               for k in state_dict) if m})
    for stage, index in blocks:
        src, dst = f'blocks.{stage}.{index}.', f'layer{stage + 1}.{index}.'
        pairs += conv_bn_rules(f'{src}conv_dw.', f'{src}bn1.',
                               f'{dst}depthwise_conv')
        pairs += conv_bn_rules(f'{src}conv_pw.', f'{src}bn2.',
                               f'{dst}pointwise_conv')
    return rename_keys(state_dict, prefix_rules(pairs),
                       drop=[r'^classifier\.'])


# timm's MobileNetV1 weights take inputs in [-1, 1] (its pretrained_cfg).
declare_source(
    'timm', 'MobileNetV1',
    names=lambda b: [f'mobilenetv1_{round(b.widen_factor * 100)}'],
    features='forward_features')
