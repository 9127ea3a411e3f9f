"""ResNeXt: parameters and features against torchvision, timm and
mmpretrain. The shared contract (train step, channels_last, freezing...)
runs for ResNeXt in test_resnet.py."""
import pytest
import torchvision
from backbone_checks import (build_meta, check_equivalent,
                             check_mmpretrain_equivalence, count_params,
                             randomize_bn, small_input, torchvision_features)
from mmpretrain.models import ResNeXt as MMPretrainResNeXt
from timm import create_model

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import Bottleneck, ResNeXt

#: depth, groups, width_per_group -> the reference models that have it.
VARIANTS = {
    (50, 32, 4): ('resnext50_32x4d', 'resnext50_32x4d'),
    (101, 32, 4): (None, 'resnext101_32x4d'),
    (101, 32, 8): ('resnext101_32x8d', 'resnext101_32x8d'),
    (101, 64, 4): ('resnext101_64x4d', 'resnext101_64x4d'),
    (152, 32, 4): (None, None),
}


def resnext(variant, **kwargs):
    depth, groups, width = variant
    return ResNeXt(depth=depth, groups=groups, width_per_group=width,
                   **kwargs)


@pytest.mark.parametrize('variant', list(VARIANTS))
def test_params_match_references(variant):
    ours = count_params(build_meta(resnext, variant))
    tv_name, timm_name = VARIANTS[variant]
    if tv_name:
        ref = build_meta(getattr(torchvision.models, tv_name))
        assert ours == count_params(ref, exclude_prefixes=['fc.'])
    if timm_name:
        ref = build_meta(create_model, timm_name, num_classes=0)
        assert ours == count_params(ref)
    if not (tv_name or timm_name):  # ResNeXt-152 only exists in mmpretrain
        depth, groups, width = variant
        ref = MMPretrainResNeXt(depth=depth, groups=groups,
                                width_per_group=width)
        assert ours == count_params(ref)


def test_torchvision_equivalence():
    ref = randomize_bn(torchvision.models.resnext50_32x4d())
    ours = resnext((50, 32, 4))
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours),
        strict=True)
    check_equivalent(ours, torchvision_features(ref).eval(),
                     small_input())


@pytest.mark.parametrize('kwargs', [
    dict(groups=32, width_per_group=8),  # the 32x8d width rule
    dict(groups=64, width_per_group=4, deep_stem=True, avg_down=True),
])
def test_mmpretrain_equivalence(kwargs):
    check_mmpretrain_equivalence('ResNeXt', **dict(kwargs, depth=50))


def test_width_follows_groups_and_stage():
    model = resnext((50, 32, 8))
    # 32 groups x 8 channels in conv2_x, doubling per stage (Xie et al.
    # Table 1 for 32x4d: 128, 256, 512, 1024).
    assert [stage[0].conv2.groups for stage in model.stage_modules()] == \
        [32] * 4
    assert [stage[0].mid_channels for stage in model.stage_modules()] == \
        [256, 512, 1024, 2048]


def test_bad_arguments():
    with pytest.raises(ValueError, match=r'depth must be one of \[50, 101'):
        ResNeXt(depth=18)
    with pytest.raises(ValueError, match='groups must be a positive int'):
        ResNeXt(depth=50, groups=0)
    with pytest.raises(ValueError, match='width_per_group must be'):
        ResNeXt(depth=50, width_per_group=2.5)
    with pytest.raises(ValueError, match='not a multiple of base_channels'):
        Bottleneck(256, 256, groups=32, base_channels=48)
