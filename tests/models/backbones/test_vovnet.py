import pytest
import torch
from backbone_checks import (BackboneContract, build_meta,
                             check_equivalent_outputs, count_params,
                             randomize_bn)
from timm.models.vovnet import VovNet as TimmVovNet
from timm.models.vovnet import model_cfgs

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import VoVNet
from mmbackbones.models.backbones.vovnet import VOVNET_ARCHS, EffectiveSE
from mmbackbones.registry import MODELS

# Our preset -> timm's model_cfgs entry ('ese_vovnet19b' has a cfg but no
# registered model name in timm).
TIMM = {
    '39': 'vovnet39a',
    '57': 'vovnet57a',
    'ese-19-slim-dw': 'ese_vovnet19b_slim_dw',
    'ese-19-dw': 'ese_vovnet19b_dw',
    'ese-19-slim': 'ese_vovnet19b_slim',
    'ese-19': 'ese_vovnet19b',
    'ese-39': 'ese_vovnet39b',
    'ese-57': 'ese_vovnet57b',
    'ese-99': 'ese_vovnet99b',
}


def timm_model(arch, meta=False):
    if meta:
        return build_meta(TimmVovNet, model_cfgs[TIMM[arch]], num_classes=0)
    return TimmVovNet(model_cfgs[TIMM[arch]])


@pytest.mark.parametrize('arch', list(TIMM))
def test_params_match_timm(arch):
    ours = build_meta(VoVNet, arch)
    assert count_params(ours) == count_params(timm_model(arch, meta=True))


def test_27_slim_params():
    # VoVNet Table 1 quotes 3.5M with the 1000-class classifier (512 * 1000
    # + 1000 = 0.51M); no reference implementation is installed.
    assert count_params(build_meta(VoVNet, '27-slim')) == 3012736


# Every kind of block: depthwise + reduction, slim, V1 (no eSE/shortcut),
# V2 with a shortcut (stages with 2 blocks).
@pytest.mark.parametrize('arch', ['ese-19-slim-dw', 'ese-19-slim', '39',
                                  'ese-39'])
def test_timm_equivalence(arch):
    ref = randomize_bn(timm_model(arch)).eval()
    ours = VoVNet(arch, out_indices=(0, 1, 2, 3))
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    check_equivalent_outputs(
        ours, lambda x: ref.forward_intermediates(
            x, indices=[1, 2, 3, 4], intermediates_only=True),
        torch.rand(2, 3, 64, 64))


def test_converter_rejects_other_architecture():
    ref = timm_model('ese-19-slim')
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'timm', VoVNet('ese-19-slim-dw'))
    with pytest.raises(ValueError, match="no converter from 'torchvision'"):
        convert_state_dict(ref.state_dict(), 'torchvision',
                           VoVNet('ese-19-slim'))


def test_effective_se_is_one_conv_with_hard_sigmoid():
    se = EffectiveSE(8)
    x = torch.randn(2, 8, 5, 5)
    expected = x * torch.nn.functional.relu6(
        torch.nn.functional.conv2d(x.mean((2, 3), keepdim=True),
                                   se.fc.weight, se.fc.bias) + 3) / 6
    torch.testing.assert_close(se(x), expected)
    assert sorted(se.state_dict()) == ['fc.bias', 'fc.weight']


class TestVoVNetContract(BackboneContract):
    num_stages = 4
    input_size = 64
    registry_cfg = dict(type='VoVNet', arch='ese-19-slim-dw')

    @staticmethod
    def build(**kwargs):
        return VoVNet('ese-19-slim-dw', **kwargs)


def test_arch_table():
    # V2 rows: identity shortcut on all but a stage's first block, eSE on
    # its last block only; V1 rows: neither.
    model = build_meta(VoVNet, 'ese-57')
    stage = model.stages[2]
    blocks = [m for name, m in stage.named_children() if name != 'pool']
    assert len(blocks) == 4
    assert [b.residual for b in blocks] == [False, True, True, True]
    assert [b.ese is not None for b in blocks] == [False, False, False, True]
    assert not hasattr(model.stages[0], 'pool')
    assert all(len(b.layers) == 5 for b in blocks)
    v1 = build_meta(VoVNet, '57')
    assert not any(b.residual or b.ese is not None
                   for s in v1.stages for n, b in s.named_children()
                   if n != 'pool')
    assert build_meta(VoVNet, 'ese-99').arch_spec.num_blocks == (1, 3, 9, 3)
    for arch, spec in VOVNET_ARCHS.items():
        assert spec.residual == spec.ese == arch.startswith('ese'), arch
        assert spec.depthwise == arch.endswith('-dw'), arch


def test_feature_info_and_min_input():
    model = VoVNet('ese-19-slim', out_indices=(0, 1, 2, 3)).eval()
    assert model.feature_info == [
        dict(index=0, channels=112, stride=4),
        dict(index=1, channels=256, stride=8),
        dict(index=2, channels=384, stride=16),
        dict(index=3, channels=512, stride=32),
    ]
    assert VoVNet('ese-19-slim').out_indices == (3, )
    with torch.no_grad():
        assert model(torch.rand(1, 3, 29, 29))[-1].shape[-1] == 1
    with pytest.raises(ValueError, match='at least 29x29'):
        model(torch.rand(1, 3, 28, 28))


def test_custom_arch():
    arch = dict(stem_channels=[16, 16, 32], mid_channels=[8, 8, 8, 8],
                out_channels=[16, 16, 24, 24], num_blocks=[1, 2, 1, 1],
                num_layers=2, residual=True, ese=True)
    model = VoVNet(arch, out_indices=(0, 1, 2, 3))
    assert [o.shape[1] for o in model(torch.rand(2, 3, 32, 32))] == [
        16, 16, 24, 24]


def test_bad_arch():
    with pytest.raises(ValueError, match=r"arch must be one of \['27-slim'"):
        VoVNet('39a')
    with pytest.raises(TypeError, match='arch must be a preset name'):
        VoVNet(39)
    base = dict(VOVNET_ARCHS['ese-19-slim'].__dict__)
    with pytest.raises(ValueError, match=r"missing the keys \['num_layers'\]"):
        VoVNet({k: v for k, v in base.items() if k != 'num_layers'})
    with pytest.raises(ValueError, match=r"unknown keys \['groups'\]"):
        VoVNet(dict(base, groups=2))
    with pytest.raises(ValueError, match='mid_channels must be 4 positive'):
        VoVNet(dict(base, mid_channels=(64, 80, 96)))
    with pytest.raises(ValueError, match='num_layers must be a positive'):
        VoVNet(dict(base, num_layers=0))
    with pytest.raises(ValueError, match='stem_channels must be 3 positive'):
        VoVNet(dict(base, stem_channels=(64, 64, 0)))


def test_registry_builds_with_arguments():
    model = MODELS.build(dict(type='VoVNet', arch='ese-19-slim',
                              out_indices=(1, 2)))
    assert isinstance(model, VoVNet) and model.out_channels == (256, 384)
