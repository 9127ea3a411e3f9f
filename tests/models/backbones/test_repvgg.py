import copy
import dataclasses
import glob
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import timm
import torch
from backbone_checks import (BackboneContract, check_equivalent,
                             check_forward_backward, count_params,
                             randomize_bn, relative_error)
from conftest import REPO_ROOT
from mmengine.config import Config
from mmpretrain.models import RepVGG as MMPretrainRepVGG
from mmpretrain.models.backbones.repvgg import \
    RepVGGBlock as MMPretrainRepVGGBlock
from timm.models.byobnet import ByobNet, _rep_vgg_bcfg, model_cfgs
from torch.nn.modules.batchnorm import _BatchNorm

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import REPVGG_ARCHS, RepVGG, RepVGGBlock
from mmbackbones.registry import MODELS

ARCHS = list(REPVGG_ARCHS)
TIMM_ARCHS = [a for a in ARCHS if 'g2' not in a]  # timm has no g2 models
SMALL = 32  # input size of the whole-model checks


def small_input(batch=1, size=SMALL):
    return torch.rand(batch, 3, size, size)


def factory(**kwargs):
    return RepVGG('A0', **kwargs)


def deployed(model):
    model = copy.deepcopy(model).eval()
    model.switch_to_deploy()
    return model


# --------------------------------------------------------------------- #
# Presets against the references
# --------------------------------------------------------------------- #
def test_all_paper_presets():
    assert ARCHS == ['A0', 'A1', 'A2', 'B0', 'B1', 'B1g2', 'B1g4', 'B2',
                     'B2g2', 'B2g4', 'B3', 'B3g2', 'B3g4', 'D2se']


@pytest.mark.parametrize('arch', ARCHS)
def test_params_match_mmpretrain_and_timm(arch):
    # Full-size presets, counted on the meta device (no memory, no init).
    with torch.device('meta'):
        ours = RepVGG(arch)
        ref = MMPretrainRepVGG(arch)
        deploy = RepVGG(arch, deploy=True)
        mm_deploy = MMPretrainRepVGG(arch, deploy=True)
        if arch in TIMM_ARCHS:
            timm_model = timm.create_model(f'repvgg_{arch.lower()}')
    assert count_params(ours) == count_params(ref)
    assert set(ours.state_dict()) == set(ref.state_dict())
    assert set(deploy.state_dict()) == set(mm_deploy.state_dict())
    assert count_params(deploy) < count_params(ours)
    if arch in TIMM_ARCHS:
        assert count_params(ours) == count_params(
            timm_model, exclude_prefixes=['head.'])


def assert_outputs_close(outs, ref_outs, rtol=1e-5):
    assert len(outs) == len(ref_outs)
    for out, ref in zip(outs, ref_outs):
        assert out.shape == ref.shape
        err = relative_error(out, ref)
        assert err <= rtol, f'relative error {err:.2e} > {rtol:.0e}'


@pytest.mark.parametrize('arch', ARCHS)
def test_mmpretrain_equivalence_and_deploy(arch):
    """Every preset at 1/8 width (same depths, groups, SE): mmpretrain's
    weights convert exactly, and both deploy forms equal the training
    form with randomised BN statistics."""
    kwargs = dict(base_channels=8, out_indices=(0, 1, 2, 3))
    ref = randomize_bn(MMPretrainRepVGG(arch, **kwargs))
    ours = RepVGG(arch, **kwargs)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'mmpretrain',
                                            ours), strict=True)
    ref.eval()
    switched = deployed(ours)
    assert not any(isinstance(m, _BatchNorm) for m in switched.modules())
    # deploy=True builds the same structure: the switched weights load.
    direct = RepVGG(arch, deploy=True, **kwargs).eval()
    direct.load_state_dict(switched.state_dict(), strict=True)
    x = small_input()
    with torch.no_grad():
        outs = ours.eval()(x)
        assert_outputs_close(outs, ref(x))
        switched_outs = switched(x)
        assert_outputs_close(switched_outs, outs)
        assert_outputs_close(direct(x), switched_outs)
    # mmpretrain's own re-parameterisation gives the same deploy weights.
    ref.switch_to_deploy()
    ref_state = ref.state_dict()
    for key, value in switched.state_dict().items():
        torch.testing.assert_close(value, ref_state[key], rtol=1e-5,
                                   atol=1e-6, msg=key)


@pytest.mark.parametrize('memory_format', ['contiguous_format',
                                           'channels_last'])
def test_training_form_gradients_match_mmpretrain(memory_format):
    """The training step itself (batch statistics, in-place branch sum,
    strided 1x1 branches): outputs, input and parameter gradients and the
    updated BN statistics equal mmpretrain's (fp32 summation order
    only)."""
    fmt = getattr(torch, memory_format)
    ref = randomize_bn(MMPretrainRepVGG('A0', out_indices=(0, 1, 2, 3)))
    ours = RepVGG('A0', out_indices=(0, 1, 2, 3))
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.rand(2, 3, 64, 64).contiguous(memory_format=fmt)
    results = []
    for model in (ours, ref):
        model.to(memory_format=fmt).train()
        inp = x.clone().requires_grad_()
        outs = model(inp)
        # Weighted, so each position's gradient differs.
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum()
            for o in outs).backward()
        results.append((outs, inp.grad, dict(model.named_parameters()),
                        dict(model.named_buffers())))
    (outs, grad, params, buffers), (ref_outs, ref_grad, ref_params,
                                    ref_buffers) = results
    assert_outputs_close(outs, ref_outs, rtol=1e-6)
    assert relative_error(grad, ref_grad) < 1e-5
    for name, param in params.items():
        err = relative_error(param.grad, ref_params[name].grad)
        assert err < 1e-5, f'{name}.grad: relative error {err:.1e}'
    for name, buf in buffers.items():
        assert relative_error(buf.float(), ref_buffers[name].float()) < 1e-6


def _timm_thin(name, **blocks):
    cfg = dataclasses.replace(model_cfgs[name], blocks=_rep_vgg_bcfg(**blocks),
                              stem_chs=16)
    return ByobNet(cfg, num_classes=0)


TIMM_CASES = {
    # name: (timm model factory, our arch, base_channels)
    'A0': (lambda: timm.create_model('repvgg_a0'), 'A0', 64),
    'B1g4-thin': (lambda: _timm_thin('repvgg_b1g4', wf=(.25, .25, .25, .5),
                                     groups=4), 'B1g4', 8),
    # SE with channels divisible by 16: timm rounds the squeeze width,
    # mmpretrain floors it; they agree there (and at every D2se width).
    'se-thin': (lambda: _timm_thin('repvgg_d2se', d=(2, 2, 2, 1),
                                   wf=(.25, ) * 4),
                dict(num_blocks=(2, 2, 2, 1), width_factor=(1, 1, 1, 1),
                     se_cfg=dict(ratio=16, divisor=1)), 16),
}


@pytest.mark.parametrize('case', list(TIMM_CASES))
def test_timm_equivalence(case):
    make_timm, arch, base = TIMM_CASES[case]
    ref = randomize_bn(make_timm()).eval()
    ours = RepVGG(arch, base_channels=base)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    check_equivalent(ours, ref.forward_features, small_input())
    # timm's own deploy form converts into ours and equals our switch.
    ref_deploy = timm.utils.reparameterize_model(copy.deepcopy(ref))
    ours_deploy = RepVGG(arch, base_channels=base, deploy=True)
    ours_deploy.load_state_dict(
        convert_state_dict(ref_deploy.state_dict(), 'timm', ours_deploy),
        strict=True)
    check_equivalent(ours_deploy, lambda x: deployed(ours)(x)[-1],
                     small_input())


def test_converter_rejects_other_architecture():
    with torch.device('meta'):
        ref = MMPretrainRepVGG('A1')
        ours = RepVGG('A0')
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'mmpretrain', ours)


# --------------------------------------------------------------------- #
# The block: every branch configuration
# --------------------------------------------------------------------- #
BLOCK_CASES = {
    # name: (in, out, RepVGGBlock kwargs); the identity branch exists iff
    # in == out and stride 1.
    'identity': (16, 16, dict()),
    'wider': (16, 32, dict()),
    'stride2': (16, 16, dict(stride=2)),
    'stem': (3, 16, dict(stride=2)),
    'groups-identity': (16, 16, dict(groups=4)),
    'groups-stride2': (16, 32, dict(stride=2, groups=2)),
    'dilation-identity': (16, 16, dict(dilation=2, padding=2)),
    'dilation-wider': (16, 32, dict(dilation=3, padding=3)),
    'se-identity': (16, 16, dict(se_cfg=dict(ratio=4, divisor=1))),
    'se-stride2-groups': (16, 32, dict(stride=2, groups=2,
                                       se_cfg=dict(ratio=4, divisor=1))),
}


@pytest.mark.parametrize('case', list(BLOCK_CASES))
def test_block_reparameterisation(case):
    in_channels, out_channels, kwargs = BLOCK_CASES[case]
    block = randomize_bn(RepVGGBlock(in_channels, out_channels, **kwargs))
    block.eval()
    has_identity = in_channels == out_channels and kwargs.get('stride',
                                                              1) == 1
    assert (block.branch_norm is not None) == has_identity
    x = torch.randn(2, in_channels, 11, 11)  # odd size: stride-2 rounding
    with torch.no_grad():
        expected = block(x)
        # Same keys and function as mmpretrain's block.
        ref = MMPretrainRepVGGBlock(in_channels, out_channels, **kwargs)
        ref.load_state_dict(block.state_dict(), strict=True)
        ref.eval()
        assert relative_error(ref(x), expected) <= 1e-6

        switched = copy.deepcopy(block)
        switched.switch_to_deploy()
        switched.switch_to_deploy()  # idempotent
        assert relative_error(switched(x), expected) <= 1e-5
        assert set(switched.state_dict()) >= {'branch_reparam.weight',
                                              'branch_reparam.bias'}
        assert not any(isinstance(m, _BatchNorm)
                       for m in switched.modules())
        direct = RepVGGBlock(in_channels, out_channels, deploy=True,
                             **kwargs)
        direct.load_state_dict(switched.state_dict(), strict=True)
        assert relative_error(direct(x), expected) <= 1e-5


def test_block_needs_batchnorm_to_switch():
    block = RepVGGBlock(8, 8, norm_cfg=dict(type='GN', num_groups=2))
    with pytest.raises(TypeError, match='BatchNorm'):
        block.switch_to_deploy()


def test_block_bad_arguments():
    with pytest.raises(ValueError, match='padding == dilation'):
        RepVGGBlock(8, 8, padding=1, dilation=2)
    with pytest.raises(ValueError, match='groups=3'):
        RepVGGBlock(8, 8, groups=3)
    with pytest.raises(ValueError, match='se_cfg has unknown keys'):
        RepVGGBlock(8, 8, se_cfg=dict(reduction=4))


def test_channels_last_training_does_not_crash():
    """PyTorch's CPU backward of a 1x1 stride-2 conv with < 16 input
    channels in channels_last segfaults (at this size, with 2 threads);
    the stem's 1x1 branch must not hit it, and the wider strided 1x1
    branches (which convolve with the stride themselves) must not either:
    the stem block and a whole A0. In a subprocess, so a crash fails this
    test instead of killing the run."""
    code = textwrap.dedent("""
        import torch
        from mmbackbones.models import RepVGG, RepVGGBlock
        torch.set_num_threads(2)
        block = RepVGGBlock(3, 48, stride=2).to(
            memory_format=torch.channels_last)
        x = torch.rand(2, 3, 112, 112).contiguous(
            memory_format=torch.channels_last).requires_grad_()
        block(x).sum().backward()
        model = RepVGG('A0', out_indices=(0, 1, 2, 3)).to(
            memory_format=torch.channels_last)
        sum(o.sum() for o in model(x)).backward()
        print('ok', x.grad.shape)
    """)
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'ok' in proc.stdout


# --------------------------------------------------------------------- #
# The backbone contract (shared checks)
# --------------------------------------------------------------------- #
class TestRepVGGContract(BackboneContract):
    num_stages = 4
    input_size = SMALL
    registry_cfg = dict(type='RepVGG', arch='A0')

    @staticmethod
    def build(**kwargs):
        return factory(**kwargs)


def test_feature_info_and_default_output():
    assert factory(out_indices=(0, 1, 2, 3)).feature_info == [
        dict(index=0, channels=48, stride=4),
        dict(index=1, channels=96, stride=8),
        dict(index=2, channels=192, stride=16),
        dict(index=3, channels=1280, stride=32),
    ]
    assert factory().out_indices == (3, )  # mmpretrain's default


def test_deploy_form_forward_backward():
    model = factory(deploy=True, out_indices=(0, 3))
    check_forward_backward(model, small_input(2))
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"arch must be one of \['A0'"):
        RepVGG('A3')
    with pytest.raises(TypeError, match='arch must be'):
        RepVGG(3)
    with pytest.raises(ValueError, match='missing the keys'):
        RepVGG(dict(num_blocks=[1, 1, 1, 1]))
    with pytest.raises(ValueError, match='unknown keys'):
        RepVGG(dict(num_blocks=[1], width_factor=[1], depth=3),
               strides=(2, ), dilations=(1, ), out_indices=0)
    with pytest.raises(ValueError, match='one entry per stage'):
        RepVGG(dict(num_blocks=[1, 1], width_factor=[1]))
    with pytest.raises(ValueError, match='strides'):
        RepVGG('A0', strides=(2, 2, 2))
    with pytest.raises(ValueError, match='add_ppf'):
        RepVGG('A0', add_ppf=True)


def test_custom_arch_as_in_mmpretrain():
    arch = dict(num_blocks=[1, 2], width_factor=[1, 1],
                group_layer_map={3: 2}, se_cfg=None, stem_channels=16)
    ours = RepVGG(arch, base_channels=16, strides=(2, 2), dilations=(1, 1),
                  out_indices=(0, 1))
    ref = MMPretrainRepVGG(arch, base_channels=16, strides=(2, 2),
                           dilations=(1, 1), out_indices=(0, 1))
    assert count_params(ours) == count_params(ref)
    assert ours.stage_2[1].branch_3x3.conv.groups == 2
    assert [o.shape[1] for o in ours(small_input())] == [16, 32]


def test_dilated_stages_keep_resolution():
    model = RepVGG('A0', strides=(2, 2, 1, 1), dilations=(1, 1, 2, 4),
                   out_indices=(0, 1, 2, 3))
    outs = model(small_input())
    assert [o.shape[-1] for o in outs] == [8, 4, 4, 4]
    assert model.out_strides == (4, 8, 8, 8)
    check_equivalent(deployed(randomize_bn(model)),
                     lambda x: model.eval()(x)[-1], small_input())


def test_registry_and_mmpretrain_config_port():
    # An mmpretrain config's backbone dict, with only `type` changed.
    cfg = dict(type='mmbackbones.RepVGG', arch='B1g2', out_indices=(3, ),
               deploy=True)
    with torch.device('meta'):
        model = MODELS.build(cfg)
    assert isinstance(model, RepVGG) and model.deploy
    assert model.stage_1[1].branch_reparam.groups == 2
    assert model.stage_1[0].branch_reparam.groups == 1


def test_switch_sets_deploy():
    model = factory()
    model.switch_to_deploy()
    assert model.deploy and all(
        m.deploy for m in model.modules() if isinstance(m, RepVGGBlock))


# --------------------------------------------------------------------- #
# Recipes
# --------------------------------------------------------------------- #
def recipe(*parts):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', *parts))


def test_recipes():
    a0 = recipe('repvgg.py')
    assert a0.model.backbone == dict(type=RepVGG, arch='A0')
    assert a0.model.head.loss.label_smooth_val == 0.1
    assert a0.model.train_cfg.augments[0]['alpha'] == 0.2  # Mixup
    assert a0.train_cfg.max_epochs == 120

    b3 = recipe('repvgg', 'repvgg_b3.py')  # the paper's Table 5 recipe
    assert b3.model.backbone.arch == 'B3'
    assert b3.train_cfg.max_epochs == b3.param_scheduler[1]['end'] == 200
    pipeline = [t['type'].__name__ for t in b3.train_dataloader.dataset
                .pipeline]
    assert pipeline == ['LoadImageFromFile', 'RandomResizedCrop',
                        'RandomFlip', 'AutoAugment', 'PackInputs']
    assert b3.train_dataloader.dataset.pipeline[3]['policies'] == 'imagenet'
    assert b3.model.head.loss.label_smooth_val == 0.1
    assert recipe('repvgg', 'repvgg_a0_deploy.py').model.backbone.deploy


def test_every_preset_has_a_config():
    configs = glob.glob(osp.join(REPO_ROOT, 'configs', 'repvgg', 'repvgg_*'))
    archs = {recipe('repvgg', osp.basename(p)).model.backbone.arch
             for p in configs}
    assert archs | {'A0'} == set(ARCHS)
