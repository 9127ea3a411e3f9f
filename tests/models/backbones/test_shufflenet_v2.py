import pytest
import torch
import torchvision
from backbone_checks import (BackboneContract, check_equivalent,
                             check_mmpretrain_checkpoint, count_params,
                             randomize_bn)
from mmpretrain.models import ShuffleNetV2 as MMPretrainShuffleNetV2

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import ShuffleNetV2
from mmbackbones.registry import MODELS

TORCHVISION = {0.5: 'shufflenet_v2_x0_5', 1.0: 'shufflenet_v2_x1_0',
               1.5: 'shufflenet_v2_x1_5', 2.0: 'shufflenet_v2_x2_0'}


def small_input(batch=2, size=64):
    return torch.rand(batch, 3, size, size)


def factory(**kwargs):
    return ShuffleNetV2(widen_factor=0.5, **kwargs)


def torchvision_features(model):
    return torch.nn.Sequential(model.conv1, model.maxpool, model.stage2,
                               model.stage3, model.stage4, model.conv5)


@pytest.mark.parametrize('widen_factor', list(TORCHVISION))
def test_params_match_torchvision(widen_factor):
    ours = ShuffleNetV2(widen_factor=widen_factor)
    ref = getattr(torchvision.models, TORCHVISION[widen_factor])()
    assert count_params(ours) == count_params(ref, exclude_prefixes=['fc.'])


@pytest.mark.parametrize('widen_factor', list(TORCHVISION))
def test_torchvision_equivalence(widen_factor):
    ref = randomize_bn(getattr(torchvision.models, TORCHVISION[widen_factor])())
    ours = ShuffleNetV2(widen_factor=widen_factor)
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours), strict=True)
    check_equivalent(ours, torchvision_features(ref).eval(), small_input())


@pytest.mark.parametrize('widen_factor', [0.5, 1.5])
def test_mmpretrain_equivalence(widen_factor):
    check_mmpretrain_checkpoint(
        ShuffleNetV2(widen_factor=widen_factor, out_indices=(0, 1, 2, 3)),
        MMPretrainShuffleNetV2(widen_factor=widen_factor,
                               out_indices=(0, 1, 2, 3)),
        small_input())


def test_converter_rejects_other_architecture():
    ref = torchvision.models.shufflenet_v2_x1_0()
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'torchvision',
                           ShuffleNetV2(widen_factor=0.5))
    with pytest.raises(ValueError, match='source must be one of'):
        convert_state_dict(ref.state_dict(), 'caffe', ShuffleNetV2())
    with pytest.raises(ValueError, match="no converter from 'timm'"):
        convert_state_dict(ref.state_dict(), 'timm', ShuffleNetV2())


class TestShuffleNetV2Contract(BackboneContract):
    num_stages = 4

    @staticmethod
    def build(**kwargs):
        return ShuffleNetV2(widen_factor=0.5, **kwargs)


def test_feature_info():
    assert factory(out_indices=(0, 1, 2, 3)).feature_info == [
        dict(index=0, channels=48, stride=8),
        dict(index=1, channels=96, stride=16),
        dict(index=2, channels=192, stride=32),
        dict(index=3, channels=1024, stride=32),
    ]
    assert factory().out_indices == (3, )  # mmpretrain's default


def test_bad_widen_factor():
    with pytest.raises(ValueError, match=r'widen_factor must be one of'):
        ShuffleNetV2(widen_factor=0.75)


def test_registry_builds_with_arguments():
    model = MODELS.build(dict(type='ShuffleNetV2', widen_factor=1.5))
    assert isinstance(model, ShuffleNetV2) and model.widen_factor == 1.5
