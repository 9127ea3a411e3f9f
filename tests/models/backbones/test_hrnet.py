import pytest
import timm
import torch
from backbone_checks import (BackboneContract, build_meta,
                             check_equivalent_outputs,
                             check_mmpretrain_checkpoint, count_params,
                             randomize_bn)

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import HRNET_ARCHS, HRNet
from mmbackbones.registry import MODELS

ARCHS = ['w18', 'w30', 'w32', 'w40', 'w44', 'w48', 'w64']
TIMM_HEAD = ('incre_modules.', 'downsamp_modules.', 'final_layer.',
             'classifier.')


def tiny_extra(stage4_modules=2):
    """Every kind of layer of HRNet (bottleneck stage 1 with a projection,
    width-changing and new-branch transitions, fuse layers both ways, two
    modules in the last stage) at a few channels."""
    return dict(
        stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
                    num_blocks=(1, ), num_channels=(8, )),
        stage2=dict(num_modules=1, num_branches=2, block='BASIC',
                    num_blocks=(1, 1), num_channels=(4, 8)),
        stage3=dict(num_modules=1, num_branches=3, block='BASIC',
                    num_blocks=(1, 1, 1), num_channels=(4, 8, 16)),
        stage4=dict(num_modules=stage4_modules, num_branches=4,
                    block='BASIC', num_blocks=(1, 1, 1, 1),
                    num_channels=(4, 8, 16, 32)))


TINY = tiny_extra()


def timm_stages(model):
    """timm's own path to the four branches of the last stage (its
    ``features_only`` with ``feature_location=''`` runs the same)."""

    def run(x):
        x = model.act1(model.bn1(model.conv1(x)))
        x = model.act2(model.bn2(model.conv2(x)))
        return model.stages(x)

    return run


@pytest.mark.parametrize('arch', ARCHS)
def test_params_match_mmpretrain_and_timm(arch):
    from mmpretrain.models import HRNet as MMPretrainHRNet
    ours = count_params(build_meta(HRNet, arch))
    assert ours == count_params(build_meta(MMPretrainHRNet, arch))
    timm_model = build_meta(timm.create_model, f'hrnet_{arch}')
    assert ours == count_params(timm_model, exclude_prefixes=TIMM_HEAD)


@pytest.mark.parametrize('kwargs', [
    dict(arch='w18'),
    dict(extra=TINY),
    dict(extra=TINY, multiscale_output=False),
])
def test_mmpretrain_equivalence(kwargs):
    from mmpretrain.models import HRNet as MMPretrainHRNet
    torch.manual_seed(0)
    ours = HRNet(**kwargs)
    check_mmpretrain_checkpoint(ours, MMPretrainHRNet(**kwargs),
                                torch.rand(2, 3, 64, 64))
    assert len(ours.out_indices) == (
        4 if kwargs.get('multiscale_output', True) else 1)


@pytest.mark.parametrize('arch', ['w18', 'w30'])
def test_timm_equivalence_every_branch(arch):
    torch.manual_seed(0)
    ref = randomize_bn(timm.create_model(f'hrnet_{arch}')).eval()
    ours = HRNet(arch)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    x = torch.rand(1, 3, 64, 64)
    check_equivalent_outputs(ours, timm_stages(ref), x)
    # timm's features_only model, loaded from the same weights, gives the
    # same four maps.
    feats = timm.create_model(f'hrnet_{arch}', features_only=True,
                              feature_location='', out_indices=(1, 2, 3, 4))
    missing, unexpected = feats.load_state_dict(ref.state_dict(),
                                                strict=False)
    assert not missing and all(k.startswith(TIMM_HEAD) for k in unexpected)
    check_equivalent_outputs(ours, feats.eval(), x)
    assert [f['num_chs'] for f in feats.feature_info.get_dicts()] == list(
        ours.out_channels)
    assert [f['reduction'] for f in feats.feature_info.get_dicts()] == list(
        ours.out_strides)


def test_converter_rejects_other_architecture():
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(
            build_meta(HRNet, 'w18').state_dict(), 'mmpretrain',
            build_meta(HRNet, 'w32'))


def test_arch_table():
    """Paper Sec. 4.1 / mmpretrain's arch_zoo: C, 2C, 4C, 8C; 1, 4, 3
    modules of four basic blocks; stage 1 is four bottlenecks of 64."""
    assert list(HRNET_ARCHS) == ARCHS
    for name, stages in HRNET_ARCHS.items():
        c = int(name[1:])
        s1 = stages['stage1']
        assert (s1.num_modules, s1.block, s1.num_blocks,
                s1.num_channels) == (1, 'BOTTLENECK', (4, ), (64, ))
        for k, modules in ((2, 1), (3, 4), (4, 3)):
            s = stages[f'stage{k}']
            assert s.num_modules == modules and s.block == 'BASIC'
            assert s.num_branches == k and s.num_blocks == (4, ) * k
            assert s.num_channels == tuple(c * 2**b for b in range(k))
    from mmpretrain.models import HRNet as MMPretrainHRNet
    for name in ARCHS:
        ref = MMPretrainHRNet.parse_arch(MMPretrainHRNet, name)
        assert build_meta(HRNet, name).extra == {
            k: dict(v, num_blocks=tuple(v['num_blocks']),
                    num_channels=tuple(v['num_channels']))
            for k, v in ref.items()
        }


def test_feature_info_and_default_outputs():
    model = build_meta(HRNet, 'w48')
    assert model.out_indices == (0, 1, 2, 3)
    assert model.feature_info == [
        dict(index=0, channels=48, stride=4),
        dict(index=1, channels=96, stride=8),
        dict(index=2, channels=192, stride=16),
        dict(index=3, channels=384, stride=32),
    ]
    assert build_meta(HRNet).arch == 'w32'  # mmpretrain's default
    single = build_meta(HRNet, 'w18', multiscale_output=False)
    assert single.out_indices == (0, ) and single.out_channels == (18, )
    assert len(single.stage4[-1].fuse_layers) == 1
    assert len(single.stage4[0].fuse_layers) == 4


def test_out_indices_subset_equals_all_outputs():
    full = HRNet(extra=TINY).eval()
    part = HRNet(extra=TINY, out_indices=(1, 3)).eval()
    part.load_state_dict(full.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = full(x), part(x)
    assert len(b) == 2
    torch.testing.assert_close(b[0], a[1])
    torch.testing.assert_close(b[1], a[3])


def test_multiscale_output_false_is_branch_zero_of_its_own_fusion():
    model = HRNet(extra=TINY, multiscale_output=False).eval()
    outs = model(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 4, 8, 8)]
    with pytest.raises(ValueError, match='multiscale_output=False'):
        HRNet(extra=TINY, multiscale_output=False, out_indices=(0, 1))


def test_frozen_stages_follow_mmseg_mmpose_grouping():
    model = HRNet(extra=TINY, frozen_stages=2).train()
    frozen = ('conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1',
              'stage2', 'transition2')
    for name, p in model.named_parameters():
        assert p.requires_grad == (not name.startswith(frozen)), name
    assert not model.stage2.training and model.stage3.training
    model = HRNet(extra=TINY, frozen_stages=4).train()
    assert not any(p.requires_grad for p in model.parameters())


def test_zero_init_residual():
    model = HRNet(extra=TINY, zero_init_residual=True)
    model.init_weights()
    assert model.stage2[0].branches[0][0].norm2.weight.abs().sum() == 0
    assert model.stage4[1].branches[3][0].norm2.bias.abs().sum() == 0
    assert model.layer1[0].norm3.weight.abs().sum() > 0  # stage 1 kept
    plain = HRNet(extra=TINY)
    plain.init_weights()
    assert plain.stage2[0].branches[0][0].norm2.weight.abs().sum() > 0


def test_input_sizes():
    model = HRNet(extra=TINY).eval()
    with torch.no_grad():
        for size in (29, 32, 61, 96):  # ceil(size / 4) a multiple of 8
            outs = model(torch.rand(1, 3, size, 64))
            assert outs[0].shape[2:] == (-(-size // 4), 16)
            assert outs[3].shape[2:] == (-(-size // 32), 2)
    for size in (28, 33, 48, 100):
        with pytest.raises(ValueError, match='multiple of 8'):
            model(torch.rand(1, 3, 64, size))


class TestHRNetContract(BackboneContract):
    num_stages = 4
    registry_cfg = dict(type='HRNet', extra=TINY)

    @staticmethod
    def build(**kwargs):
        return HRNet(extra=TINY, **kwargs)


def test_registry_builds_with_arguments():
    model = MODELS.build(
        dict(type='mmbackbones.HRNet', arch='w18', out_indices=(0, )))
    assert isinstance(model, HRNet) and model.out_channels == (18, )


def bad_stage(k, **changes):
    extra = tiny_extra()
    extra[f'stage{k}'] = dict(extra[f'stage{k}'], **changes)
    return extra


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(arch='w16'), ValueError,
     r"arch must be one of \['w18', 'w30', 'w32', 'w40', 'w44', 'w48', "
     r"'w64'\]"),
    (dict(arch=18), ValueError, 'arch must be one of'),
    (dict(extra=[1, 2]), TypeError, 'extra must be a dict'),
    (dict(extra=dict(stage1=TINY['stage1'])), ValueError,
     'dict under stage2'),
    (dict(extra=bad_stage(2, block='BASIC2')), ValueError,
     r"\"block\"\] must be one of \['BASIC', 'BOTTLENECK'\]"),
    (dict(extra=bad_stage(3, num_branches=4)), ValueError,
     r'\["num_branches"\] must be 3'),
    (dict(extra=bad_stage(3, num_blocks=(1, 1))), ValueError,
     r'\["num_blocks"\] must be 3 positive'),
    (dict(extra=bad_stage(4, num_channels=(4, 8, 16, 0))), ValueError,
     'num_channels'),
    (dict(extra=bad_stage(2, num_modules=0)), ValueError,
     r'\["num_modules"\] must be a positive int'),
    (dict(extra=bad_stage(1, num_modules=2)), ValueError,
     r'stage1"\]\["num_modules"\] must be 1'),
    (dict(extra={**TINY, 'stage2': {'num_modules': 1}}), ValueError,
     'missing the keys'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        HRNet(**kwargs)
