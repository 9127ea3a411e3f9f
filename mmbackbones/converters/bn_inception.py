"""BNInception weights: Cadene's ``pretrainedmodels.bninception`` (the Caffe
model's layer names, as in TSN's checkpoints) and ``pytorchcv``'s
``bninception``.

Both are walked against our backbone, so the rules follow its arch: the
rows without a 1x1 branch (the stride-2 reductions 3c and 4e) shift
pytorchcv's branch numbers, and the classifier (``last_linear`` /
``output``) is dropped.
"""
from typing import Dict, List, Mapping, Tuple

import torch

from .base import register_converter, rename_keys
from .settings import declare_source

#: Cadene / Caffe layer-name suffix -> our branch module, per Inception row.
_CAFFE_BRANCHES = (
    ('1x1', 'branch1'),
    ('3x3_reduce', 'branch2.0'),
    ('3x3', 'branch2.1'),
    ('double_3x3_reduce', 'branch3.0'),
    ('double_3x3_1', 'branch3.1'),
    ('double_3x3_2', 'branch3.2'),
    ('pool_proj', 'branch4.1'),
)
_CAFFE_STEM = (('conv1_7x7_s2', 'conv1'), ('conv2_3x3_reduce', 'conv2'),
               ('conv2_3x3', 'conv3'))


def _inception_names(backbone) -> List[str]:
    """Our Inception modules in forward order (``inception3a``...)."""
    return [name for name, _ in backbone.named_children()
            if name.startswith('inception')]


def _caffe_rules(backbone) -> List[Tuple[str, str]]:
    layers = list(_CAFFE_STEM)
    for name in _inception_names(backbone):
        caffe = f'inception_{name[len("inception"):]}'  # inception3a -> _3a
        layers += [(f'{caffe}_{suffix}', f'{name}.{ours}')
                   for suffix, ours in _CAFFE_BRANCHES]
    rules = []
    for caffe, ours in layers:
        rules.append((rf'^{caffe}_bn\.', f'{ours}.bn.'))
        rules.append((rf'^{caffe}\.', f'{ours}.conv.'))
    return rules


def _fix_old_bn(state_dict: Dict[str, torch.Tensor],
                backbone) -> Dict[str, torch.Tensor]:
    """Checkpoints of the Caffe model saved by PyTorch <= 0.3 (the
    BN-Inception file TSN code downloads, as reported in
    yjxiong/tsn-pytorch#104 and okankop/MFF-pytorch#2) store BN tensors as
    (1, C) and have no ``num_batches_tracked``: reshape them and count 0
    batches."""
    expected = backbone.state_dict()
    fixed = {}
    for key, value in state_dict.items():
        target = expected.get(key)
        if (target is not None and value.dim() == 2 and value.shape[0] == 1
                and target.dim() == 1):
            value = value.reshape(-1)
        fixed[key] = value
    for key, value in expected.items():
        if key.endswith('.num_batches_tracked') and key not in fixed:
            prefix = key[:-len('num_batches_tracked')]
            if prefix + 'running_mean' in fixed:
                fixed[key] = torch.zeros_like(value)
    return fixed


def _fold_conv_bias(state_dict: Dict[str, torch.Tensor],
                    backbone) -> Dict[str, torch.Tensor]:
    """Into a backbone built with ``conv_bias='auto'`` (no conv bias before
    BN): BN(conv(x) + b) with running mean m is BN(conv(x)) with running
    mean m - b, and in training the batch mean absorbs b, so each bias
    moves into its BN's running mean, exactly."""
    expected = backbone.state_dict()
    out = dict(state_dict)
    for key in list(out):
        if not key.endswith('.conv.bias') or key in expected:
            continue
        mean_key = key[:-len('conv.bias')] + 'bn.running_mean'
        if mean_key in out:
            out[mean_key] = out[mean_key] - out.pop(key).reshape(-1)
    return out


@register_converter('pretrainedmodels', 'BNInception')
def from_pretrainedmodels(state_dict: Mapping[str, torch.Tensor],
                          backbone) -> Dict[str, torch.Tensor]:
    """``conv1_7x7_s2`` / ``conv1_7x7_s2_bn`` -> ``conv1.conv`` /
    ``conv1.bn``, ``inception_3a_double_3x3_1`` -> ``inception3a.branch3.1``
    ...; ``last_linear`` is dropped."""
    converted = rename_keys(state_dict, _caffe_rules(backbone),
                            drop=[r'^last_linear\.'])
    return _fold_conv_bias(_fix_old_bn(converted, backbone), backbone)


def _pytorchcv_rules(backbone) -> List[Tuple[str, str]]:
    rules = [(r'^features\.init_block\.conv1\.', 'conv1.'),
             (r'^features\.init_block\.conv2\.conv1\.', 'conv2.'),
             (r'^features\.init_block\.conv2\.conv2\.', 'conv3.')]
    # pytorchcv's stage s, unit u is our stage s's u-th Inception block.
    names = {id(m): n for n, m in backbone.named_children()}
    for s, stage in enumerate(backbone.stage_modules()[1:], start=1):
        blocks = [m for m in stage if hasattr(m, 'branch4')]
        for u, block in enumerate(blocks, start=1):
            src = rf'^features\.stage{s}\.unit{u}\.branches\.'
            ours = names[id(block)]
            # No 1x1 branch: pytorchcv numbers the remaining ones from 1.
            shift = 0 if hasattr(block, 'branch1') else 1
            if not shift:
                rules.append((src + r'branch1\.', f'{ours}.branch1.'))
            for k, convs in ((2, 2), (3, 3)):
                for c in range(convs):
                    rules.append((src + rf'branch{k - shift}\.conv{c + 1}\.',
                                  f'{ours}.branch{k}.{c}.'))
            rules.append((src + r'branch4\.conv\.', f'{ours}.branch4.1.'))
    return rules


@register_converter('pytorchcv', 'BNInception')
def from_pytorchcv(state_dict: Mapping[str, torch.Tensor],
                   backbone) -> Dict[str, torch.Tensor]:
    """``features.init_block.conv1`` -> ``conv1``, ``features.stage2.unit1
    .branches.branch1.conv2`` (3c, no 1x1 branch) -> ``inception3c.branch2
    .1``...; ``output`` (the fc) is dropped."""
    converted = rename_keys(state_dict, _pytorchcv_rules(backbone),
                            drop=[r'^output\.'])
    return _fold_conv_bias(converted, backbone)


# BGR, 0-255, minus the BGR mean: from Cadene's pretrained_settings
# (settings.source_preprocess).
declare_source('pretrainedmodels', 'BNInception',
               names=lambda b: ['bninception'], features='features')
