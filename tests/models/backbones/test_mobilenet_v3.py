import pytest
import timm
import torch
import torchvision
from backbone_checks import (BackboneContract, check_equivalent,
                             check_mmpretrain_checkpoint, count_params,
                             randomize_bn)
from mmpretrain.models import MobileNetV3 as MMPretrainMobileNetV3

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import MobileNetV3
from mmbackbones.models.backbones.mobilenet_v3 import MOBILENET_V3_ARCHS
from mmbackbones.registry import MODELS

TORCHVISION = {'large': 'mobilenet_v3_large', 'small': 'mobilenet_v3_small'}
TIMM = {'large': 'mobilenetv3_large_100', 'large_075': 'mobilenetv3_large_075',
        'small': 'mobilenetv3_small_100', 'small_075': 'mobilenetv3_small_075',
        'small_050': 'mobilenetv3_small_050'}
TIMM_NORM = dict(type='BN', eps=1e-5)  # timm's MobileNetV3 BN eps


def small_input(batch=2, size=64):
    return torch.rand(batch, 3, size, size)


def test_presets():
    assert list(MOBILENET_V3_ARCHS) == ['small', 'small_075', 'small_050',
                                        'large', 'large_075']
    assert set(TIMM) == set(MOBILENET_V3_ARCHS)


@pytest.mark.parametrize('arch', list(MOBILENET_V3_ARCHS))
def test_params_match_references(arch):
    ours = count_params(MobileNetV3(arch=arch))
    # timm's conv_head (after the pooling) belongs to the head.
    ref = timm.create_model(TIMM[arch])
    assert ours == count_params(ref, ['conv_head.', 'classifier.'])
    if arch in TORCHVISION:
        ref = getattr(torchvision.models, TORCHVISION[arch])()
        assert ours == count_params(ref, ['classifier.'])
    if arch in MMPretrainMobileNetV3.arch_settings:
        assert ours == count_params(MMPretrainMobileNetV3(arch=arch))


@pytest.mark.parametrize('arch', ['small', 'small_075', 'small_050', 'large'])
def test_tables_equal_mmpretrain(arch):
    # The width-multiplied presets are derived (``widen``); mmpretrain
    # spells its tables out: they must agree row by row.
    rows = [[b.kernel_size, b.mid_channels, b.out_channels, b.with_se, b.act,
             b.stride] for b in MOBILENET_V3_ARCHS[arch]]
    assert rows == MMPretrainMobileNetV3.arch_settings[arch]
    assert list(MobileNetV3(arch=arch).state_dict()) == list(
        MMPretrainMobileNetV3(arch=arch).state_dict())


@pytest.mark.parametrize('arch', ['small', 'large'])
def test_torchvision_equivalence(arch):
    ref = randomize_bn(getattr(torchvision.models, TORCHVISION[arch])())
    ours = MobileNetV3(arch=arch)
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours), strict=True)
    check_equivalent(ours, ref.features.eval(), small_input())


@pytest.mark.parametrize('arch', ['small_050', 'large_075'])
def test_timm_equivalence(arch):
    ref = randomize_bn(timm.create_model(TIMM[arch])).eval()
    ours = MobileNetV3(arch=arch, norm_cfg=TIMM_NORM)
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'timm', ours), strict=True)
    check_equivalent(ours, ref.forward_features, small_input())


@pytest.mark.parametrize('arch', ['small_075', 'large'])
def test_mmpretrain_equivalence_every_stage(arch):
    ref = MMPretrainMobileNetV3(arch=arch)
    stages = tuple(range(len(ref.layers)))
    ref.out_indices = stages
    check_mmpretrain_checkpoint(MobileNetV3(arch=arch, out_indices=stages),
                                ref, small_input())


def test_architecture_large():
    model = MobileNetV3(arch='large', out_indices=tuple(range(17)))
    assert model.out_indices[-1] == 16 == MobileNetV3(arch='large')\
        .out_indices[0]  # mmpretrain's default: the last conv
    # Paper Table 1: #out per bneck, then the 960-channel 1x1 conv.
    assert model.stage_channels == (16, 16, 24, 24, 40, 40, 40, 80, 80, 80,
                                    80, 112, 112, 160, 160, 160, 960)
    assert model.stage_strides == (2, 2, 4, 4, 8, 8, 8, 16, 16, 16, 16, 16,
                                   16, 32, 32, 32, 32)
    # SE squeeze: make_divisible(exp / 4, 8); hard-sigmoid gate.
    se = model.layer4.se
    assert se.conv1.conv.out_channels == 24 and se.conv2.conv.out_channels \
        == 72
    assert isinstance(se.gate, torch.nn.Hardsigmoid)
    assert not hasattr(model.layer1, 'expand_conv')  # exp == in: none
    assert not hasattr(model.layer7, 'se')
    assert isinstance(model.layer7.depthwise_conv.activate,
                      torch.nn.Hardswish)
    assert model.layer1.with_res_shortcut and not model.layer2\
        .with_res_shortcut


def test_architecture_small_and_feature_info():
    model = MobileNetV3(arch='small', out_indices=(0, 1, 3, 8, 12))
    assert model.out_indices == (0, 1, 3, 8, 12)
    assert model.feature_info == [
        dict(index=0, channels=16, stride=2),
        dict(index=1, channels=16, stride=4),
        dict(index=3, channels=24, stride=8),
        dict(index=8, channels=48, stride=16),
        dict(index=12, channels=576, stride=32)]
    assert MobileNetV3().out_indices == (12, )
    assert MobileNetV3(arch='large_075').stage_channels[-1] == 720


def test_frozen_stages_as_mmpretrain():
    # frozen_stages=i freezes layer0 (the stem) to layer{i}.
    for frozen in (0, 3, 12):
        model = MobileNetV3(arch='small', frozen_stages=frozen).train()
        for i in range(13):
            layer = getattr(model, f'layer{i}')
            is_frozen = i <= frozen
            assert all(p.requires_grad != is_frozen
                       for p in layer.parameters()), (frozen, i)
            assert all(m.training != is_frozen for m in layer.modules())


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"arch must be one of \['small'"):
        MobileNetV3(arch='medium')
    with pytest.raises(ValueError, match='frozen_stages must be in -1..12'):
        MobileNetV3(arch='small', frozen_stages=13)
    with pytest.raises(ValueError, match='out_indices 13 is out of range'):
        MobileNetV3(arch='small', out_indices=(13, ))
    with pytest.raises(TypeError, match='arch must be a preset name'):
        MobileNetV3(arch=3)
    with pytest.raises(ValueError, match='arch row 0 must be'):
        MobileNetV3(arch=[[3, 16, 16, True, 'ReLU']])
    with pytest.raises(ValueError, match="act must be one of"):
        MobileNetV3(arch=[[3, 16, 16, True, 'GELU', 1]])
    with pytest.raises(ValueError, match='stride must be 1 or 2'):
        MobileNetV3(arch=[[3, 16, 16, True, 'ReLU', 3]])
    with pytest.raises(ValueError, match='kernel size must be a positive odd'):
        MobileNetV3(arch=[[4, 16, 16, True, 'ReLU', 1]])


def test_custom_arch():
    model = MobileNetV3(arch=[[3, 16, 16, True, 'ReLU', 2],
                              [5, 64, 24, False, 'HSwish', 2]],
                        out_indices=(0, 1, 2, 3))
    outs = model(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [
        (1, 16, 16, 16), (1, 16, 8, 8), (1, 24, 4, 4), (1, 64, 4, 4)]


def test_converter_rejects_other_architecture():
    ref = torchvision.models.mobilenet_v3_large()
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'torchvision',
                           MobileNetV3(arch='small'))


class TestMobileNetV3Contract(BackboneContract):
    num_stages = 13

    @staticmethod
    def build(**kwargs):
        return MobileNetV3(arch='small_050', **kwargs)


def test_registry_builds_with_arguments():
    model = MODELS.build(dict(type='MobileNetV3', arch='large'))
    assert isinstance(model, MobileNetV3) and model.arch == 'large'
