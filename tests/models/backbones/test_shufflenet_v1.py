import pytest
import torch
from backbone_checks import (BackboneContract, build_meta,
                             check_equivalent_outputs, count_params,
                             randomize_bn)
from mmpretrain.models import ShuffleNetV1 as MMPretrainShuffleNetV1

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import (SHUFFLENET_V1_CHANNELS,
                                SHUFFLENET_V1_WIDEN_FACTORS, ShuffleNetV1)
from mmbackbones.models.backbones.shufflenet_v1 import _is_buildable
from mmbackbones.registry import MODELS

#: Every (groups, widen_factor) pair that mmpretrain's rounding can build.
VARIANTS = [(g, w) for g in SHUFFLENET_V1_CHANNELS
            for w in SHUFFLENET_V1_WIDEN_FACTORS if _is_buildable(g, w)]


def test_variant_table():
    # Paper Table 1 at 1x, and the widths each group count supports.
    assert SHUFFLENET_V1_CHANNELS[3] == (240, 480, 960)
    assert SHUFFLENET_V1_CHANNELS[8] == (384, 768, 1536)
    assert len(VARIANTS) == 18
    assert ShuffleNetV1(groups=8, widen_factor=2.0).stage_channels == (
        768, 1536, 3072)
    assert ShuffleNetV1(groups=1, widen_factor=0.25).stage_channels == (
        40, 72, 144)


@pytest.mark.parametrize('groups,widen_factor', VARIANTS)
def test_params_match_mmpretrain(groups, widen_factor):
    ours = build_meta(ShuffleNetV1, groups=groups, widen_factor=widen_factor)
    ref = build_meta(MMPretrainShuffleNetV1, groups=groups,
                     widen_factor=widen_factor)
    assert count_params(ours) == count_params(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())


@pytest.mark.parametrize('groups,widen_factor',
                         [(1, 0.25), (2, 0.5), (3, 1.0), (4, 1.0), (8, 1.0)])
def test_mmpretrain_equivalence_every_stage(groups, widen_factor):
    torch.manual_seed(0)
    ref = randomize_bn(MMPretrainShuffleNetV1(
        groups=groups, widen_factor=widen_factor, out_indices=(0, 1, 2)))
    # A whole classifier checkpoint: the converter keeps the backbone part.
    checkpoint = {'state_dict': {f'backbone.{k}': v
                                 for k, v in ref.state_dict().items()}}
    checkpoint['state_dict']['head.fc.weight'] = torch.zeros(10, 8)
    ours = ShuffleNetV1(groups=groups, widen_factor=widen_factor,
                        out_indices=(0, 1, 2))
    ours.load_state_dict(
        convert_state_dict(checkpoint, 'mmpretrain', ours), strict=True)
    ref.eval()  # mmpretrain's train() returns None, so no chaining
    check_equivalent_outputs(ours, ref, torch.rand(2, 3, 64, 64))


def test_converter_rejects_other_architecture():
    ref = MMPretrainShuffleNetV1(groups=3)
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'mmpretrain',
                           ShuffleNetV1(groups=8))
    with pytest.raises(ValueError, match="no converter from 'torchvision'"):
        convert_state_dict(ref.state_dict(), 'torchvision', ShuffleNetV1())


class TestShuffleNetV1Contract(BackboneContract):
    num_stages = 3

    @staticmethod
    def build(**kwargs):
        return ShuffleNetV1(groups=2, widen_factor=0.25, **kwargs)


def test_feature_info():
    model = ShuffleNetV1(out_indices=(0, 1, 2))
    assert model.feature_info == [
        dict(index=0, channels=240, stride=8),
        dict(index=1, channels=480, stride=16),
        dict(index=2, channels=960, stride=32),
    ]
    assert ShuffleNetV1().out_indices == (2, )  # mmpretrain's default


def test_bad_arguments():
    with pytest.raises(ValueError, match=r'groups must be one of \[1, 2'):
        ShuffleNetV1(groups=5)
    with pytest.raises(ValueError, match=r'widen_factor must be one of'):
        ShuffleNetV1(widen_factor=0.75)
    with pytest.raises(ValueError,
                       match=r'groups=4 must be one of \[1.0, 2.0\]'):
        ShuffleNetV1(groups=4, widen_factor=0.5)


def test_registry_builds_with_arguments():
    model = MODELS.build(dict(type='ShuffleNetV1', groups=8))
    assert isinstance(model, ShuffleNetV1) and model.groups == 8
