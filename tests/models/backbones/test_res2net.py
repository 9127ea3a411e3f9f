"""Res2Net: parameters and features against timm and mmpretrain. The
shared contract runs for Res2Net in test_resnet.py."""
import pytest
import torch
from backbone_checks import (build_meta, check_equivalent,
                             check_mmpretrain_equivalence, count_params,
                             randomize_bn, small_input)
from timm import create_model

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import RES2NET_VARIANTS, Bottle2neck, Res2Net

#: The paper's form: 7x7 stem, strided shortcuts (timm's res2net*_*w_*s).
PLAIN = dict(deep_stem=False, avg_down=False)


@pytest.mark.parametrize('name', list(RES2NET_VARIANTS))
def test_params_match_timm(name):
    ours = build_meta(Res2Net, **RES2NET_VARIANTS[name], **PLAIN)
    ref = build_meta(create_model, f'res2net{name}', num_classes=0)
    assert count_params(ours) == count_params(ref)


@pytest.mark.parametrize('depth', [50, 101])
def test_v1b_params_match_timm(depth):
    # The v1b form (mmpretrain's default): timm's res2net50d / res2net101d.
    ours = build_meta(Res2Net, depth=depth)
    ref = build_meta(create_model, f'res2net{depth}d', num_classes=0)
    assert count_params(ours) == count_params(ref)


@pytest.mark.parametrize('name, kwargs', [
    ('res2net50_26w_4s', dict(RES2NET_VARIANTS['50_26w_4s'], **PLAIN)),
    ('res2net50d', dict(depth=50)),  # deep stem, pooled shortcuts
])
def test_timm_equivalence(name, kwargs):
    ref = randomize_bn(create_model(name, num_classes=0)).eval()
    ours = Res2Net(**kwargs)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    check_equivalent(ours, ref.forward_features, small_input())


@pytest.mark.parametrize('kwargs', [
    dict(depth=50, scales=8, base_width=14, **PLAIN),  # many splits
    dict(depth=50, scales=2, base_width=48),  # one 3x3 conv, v1b
])
def test_mmpretrain_equivalence(kwargs):
    check_mmpretrain_equivalence('Res2Net', **kwargs)


def test_hierarchical_splits():
    block = Bottle2neck(256, 256, scales=4, base_width=26).eval()
    assert block.width == 26 and len(block.convs) == 3
    # The last split passes through unchanged (paper Fig. 2: y_s = x_s).
    x = torch.rand(1, 26 * 4, 8, 8)
    assert torch.equal(block.middle(x)[:, 78:], x[:, 78:])
    first = Bottle2neck(64, 256, scales=4, base_width=26, stride=2,
                        stage_type='stage')
    assert first.pool.stride == 2


def test_bad_arguments():
    with pytest.raises(ValueError, match='scales must be an int >= 2'):
        Res2Net(depth=50, scales=1)
    with pytest.raises(ValueError, match='base_width must be a positive int'):
        Res2Net(depth=50, base_width=0)
    with pytest.raises(ValueError, match=r'depth must be one of \[50, 101'):
        Res2Net(depth=34)
    with pytest.raises(ValueError, match='stage_type must be'):
        Bottle2neck(256, 256, stage_type='first')
