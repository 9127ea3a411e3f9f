import pytest
import timm
import torch
import torchvision
from backbone_checks import (BackboneContract, check_equivalent,
                             check_mmpretrain_checkpoint, count_params,
                             randomize_bn)
from mmpretrain.models import MobileNetV2 as MMPretrainMobileNetV2

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import MobileNetV2
from mmbackbones.models.backbones.mobilenet_v2 import (
    MOBILENET_V2_WIDEN_FACTORS, last_channels)
from mmbackbones.models.layers import InvertedResidual
from mmbackbones.registry import MODELS

TIMM = {0.35: 'mobilenetv2_035', 0.5: 'mobilenetv2_050',
        0.75: 'mobilenetv2_075', 1.0: 'mobilenetv2_100',
        1.4: 'mobilenetv2_140'}


def small_input(batch=2, size=64):
    return torch.rand(batch, 3, size, size)


@pytest.mark.parametrize('widen_factor', MOBILENET_V2_WIDEN_FACTORS)
def test_params_match_references(widen_factor):
    ours = count_params(MobileNetV2(widen_factor=widen_factor))
    tv = torchvision.models.mobilenet_v2(width_mult=widen_factor)
    assert ours == count_params(tv, exclude_prefixes=['classifier.'])
    tm = timm.create_model(TIMM[widen_factor])
    assert ours == count_params(tm, exclude_prefixes=['classifier.'])
    assert ours == count_params(
        MMPretrainMobileNetV2(widen_factor=widen_factor))


@pytest.mark.parametrize('widen_factor', [0.35, 1.4])
def test_torchvision_equivalence(widen_factor):
    ref = randomize_bn(torchvision.models.mobilenet_v2(
        width_mult=widen_factor))
    ours = MobileNetV2(widen_factor=widen_factor)
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours), strict=True)
    check_equivalent(ours, ref.features.eval(), small_input())


@pytest.mark.parametrize('widen_factor', [0.5, 1.0])
def test_timm_equivalence(widen_factor):
    ref = randomize_bn(timm.create_model(TIMM[widen_factor])).eval()
    ours = MobileNetV2(widen_factor=widen_factor)
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'timm', ours), strict=True)
    check_equivalent(ours, ref.forward_features, small_input())


@pytest.mark.parametrize('widen_factor', [0.75, 1.4])
def test_mmpretrain_equivalence_every_stage(widen_factor):
    # mmpretrain's keys are ours: its checkpoints load without renaming.
    assert list(MobileNetV2(widen_factor=widen_factor).state_dict()) == list(
        MMPretrainMobileNetV2(widen_factor=widen_factor).state_dict())
    # A whole classifier checkpoint, all eight stages.
    stages = tuple(range(8))
    check_mmpretrain_checkpoint(
        MobileNetV2(widen_factor=widen_factor, out_indices=stages),
        MMPretrainMobileNetV2(widen_factor=widen_factor, out_indices=stages),
        small_input())


def test_architecture_table():
    model = MobileNetV2(widen_factor=1.0, out_indices=tuple(range(8)))
    # Paper Table 2: c = 16, 24, 32, 64, 96, 160, 320, then 1280.
    assert model.stage_channels == (16, 24, 32, 64, 96, 160, 320, 1280)
    assert model.stage_strides == (2, 4, 8, 16, 16, 32, 32, 32)
    assert [len(getattr(model, f'layer{i}')) for i in range(1, 8)] == [
        1, 2, 3, 4, 3, 3, 1]
    first, second = model.layer1[0], model.layer2[0]
    assert isinstance(first, InvertedResidual)
    # t = 1: no expansion conv (dw, project); t = 6: 16 -> 96 -> 24.
    assert list(first.layer_keys) == ['depthwise_conv', 'linear_conv']
    assert second.conv[0].conv.out_channels == 96
    assert not second.with_res_shortcut and model.layer2[1].with_res_shortcut
    # The projection is linear (no activation), the others ReLU6.
    assert not second.conv[2].with_activation
    assert isinstance(second.conv[1].activate, torch.nn.ReLU6)


def test_last_conv_channels_rule():
    # Not widened below 1 (paper Sec. 6.1), widened above.
    assert [last_channels(w) for w in MOBILENET_V2_WIDEN_FACTORS] == [
        1280, 1280, 1280, 1280, 1792]
    assert MobileNetV2(widen_factor=0.35).stage_channels == (
        8, 8, 16, 24, 32, 56, 112, 1280)


def test_feature_info():
    assert MobileNetV2(widen_factor=0.5, out_indices=(1, 3, 7)).feature_info \
        == [dict(index=1, channels=16, stride=4),
            dict(index=3, channels=32, stride=16),
            dict(index=7, channels=1280, stride=32)]
    assert MobileNetV2().out_indices == (7, )  # mmpretrain's default


@pytest.mark.parametrize('widen_factor', [0, -1.0, '1.0', True, None])
def test_bad_widen_factor(widen_factor):
    with pytest.raises(ValueError, match='widen_factor must be a positive'):
        MobileNetV2(widen_factor=widen_factor)


def test_converter_rejects_other_architecture():
    ref = torchvision.models.mobilenet_v2()
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'torchvision',
                           MobileNetV2(widen_factor=0.5))


class TestMobileNetV2Contract(BackboneContract):
    num_stages = 8

    @staticmethod
    def build(**kwargs):
        return MobileNetV2(widen_factor=0.35, **kwargs)


def test_registry_builds_with_arguments():
    model = MODELS.build(dict(type='MobileNetV2', widen_factor=0.75))
    assert isinstance(model, MobileNetV2) and model.widen_factor == 0.75
