"""Inception v4 weights: timm ``inception_v4`` (Cadene's port of the TF-slim
weights).

timm keeps the network as one ``features`` Sequential; ours names the same
layers after TF-slim's end points. Position i of ``features`` is our
``_FEATURE_NAMES[i]``; inside the blocks the branch contents are the same
modules in the same order, except that

* timm's single-convolution branches are the ConvNormAct itself
  (``branch0.conv``), ours a one-element Sequential (``branch0.0.conv``);
* Mixed_3a and Mixed_5a name their one convolution ``conv`` (ours:
  ``branch1.0`` and ``branch0.0``, the max-pool being the other branch);
* Inception-C spells its forks flat (``branch1_0``, ``branch1_1a``,
  ``branch1_1b``, ``branch2_3a``...), ours nests them (``branch1.0``,
  ``branch1.1.0``, ``branch1.1.1``, ``branch2.3.0``...).

The classifier ``last_linear`` is dropped.
"""
import re
from typing import Dict, Mapping

import torch

from .base import register_converter, rename_keys
from .settings import declare_source

_FEATURE_NAMES = (
    'Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'Mixed_3a',
    'Mixed_4a', 'Mixed_5a', *[f'Mixed_5{c}' for c in 'bcde'], 'Mixed_6a',
    *[f'Mixed_6{c}' for c in 'bcdefgh'], 'Mixed_7a',
    *[f'Mixed_7{c}' for c in 'bcd'])

# Applied after ``features.{i}.`` became the block name; each key needs at
# most one of them (rename_keys applies the first that matches).
_RULES = [
    (r'^Mixed_3a\.conv\.', 'Mixed_3a.branch1.0.'),
    (r'^Mixed_5a\.conv\.', 'Mixed_5a.branch0.0.'),
    (r'\.branch(\d)\.(conv|bn)\.', r'.branch\1.0.\2.'),
    (r'\.branch(\d)_(\d)a\.', r'.branch\1.\2.0.'),
    (r'\.branch(\d)_(\d)b\.', r'.branch\1.\2.1.'),
    (r'\.branch(\d)_(\d)\.', r'.branch\1.\2.'),
]
_FEATURE_KEY = re.compile(r'^features\.(\d+)\.')


def _name_features(key: str) -> str:
    match = _FEATURE_KEY.match(key)
    if match is None or int(match.group(1)) >= len(_FEATURE_NAMES):
        return key  # left for describe_mismatch to report
    return f'{_FEATURE_NAMES[int(match.group(1))]}.{key[match.end():]}'


@register_converter('timm', 'InceptionV4')
def from_timm(state_dict: Mapping[str, torch.Tensor],
              backbone) -> Dict[str, torch.Tensor]:
    named = {_name_features(k): v for k, v in state_dict.items()}
    return rename_keys(named, _RULES, drop=[r'^last_linear\.'])


# timm's input normalisation (Inception's [-1, 1]) comes from its
# pretrained_cfg (settings.source_preprocess).
declare_source('timm', 'InceptionV4', names=lambda b: ['inception_v4'],
               features='forward_features')
