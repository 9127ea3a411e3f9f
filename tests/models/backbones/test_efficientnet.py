import copy

import pytest
import timm
import torch
import torch.nn as nn
import torchvision
from backbone_checks import (BackboneContract, build_meta,
                             check_equivalent_outputs, check_forward_backward,
                             check_mmpretrain_checkpoint, check_with_cp,
                             count_params, randomize_bn)
from mmcv.cnn.bricks.conv2d_adaptive_padding import Conv2dAdaptivePadding
from mmpretrain.models import EfficientNet as MMPretrainEfficientNet

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import EfficientNet
from mmbackbones.models.backbones.efficientnet import (EFFICIENTNET_ARCHS,
                                                       EdgeResidual,
                                                       scale_stages)
from mmbackbones.registry import MODELS

ARCHS = list(EFFICIENTNET_ARCHS)
TORCHVISION = [f'b{i}' for i in range(8)]  # efficientnet_b0..b7
SYMMETRIC = dict(conv_cfg=None)  # torchvision / timm efficientnet_*
EPS5 = dict(type='BN', eps=1e-5)  # timm efficientnet_*, torchvision B0-B4
TINY = dict(width=0.25, depth=0.3)  # 8-channel stem, one block per stage
EDGETPU = ('es', 'em', 'el')
RELU = dict(type='ReLU')  # EdgeTPU's activation
# timm's EdgeTPU-L widens the first fused block's expansion from 24 x 1.2
# -> 32 (x4 = 128) channels, mmpretrain from the 40-channel stem (x3 = 120):
# 8 channels of a 3x3 conv from 40, its BN and a 1x1 conv to 32.
TIMM_EL_EXTRA = 8 * 40 * 9 + 2 * 8 + 8 * 32


def mmpretrain_meta(arch):
    """mmpretrain's EfficientNet on the meta device (its drop-path rates
    call ``.item()`` on a linspace: that one on the CPU)."""
    linspace = torch.linspace

    def cpu_linspace(*args, **kwargs):
        return linspace(*args, **dict(kwargs, device='cpu'))

    torch.linspace = cpu_linspace
    try:
        return build_meta(MMPretrainEfficientNet, arch)
    finally:
        torch.linspace = linspace


def small_input(size=64):
    return torch.rand(2, 3, size, size)


def test_presets_are_mmpretrains():
    ref = MMPretrainEfficientNet.arch_settings
    assert ARCHS == list(ref) == ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6',
                                  'b7', 'b8', 'l2', 'es', 'em', 'el']
    for arch in ARCHS:
        setting = EFFICIENTNET_ARCHS[arch]
        assert (setting.width, setting.depth,
                setting.resolution) == ref[arch]


@pytest.mark.parametrize('arch', ARCHS)
def test_params_match_references(arch):
    ours = build_meta(EfficientNet, arch)
    n = count_params(ours)
    assert n == count_params(mmpretrain_meta(arch))
    for name in (f'efficientnet_{arch}', f'tf_efficientnet_{arch}'):
        ref = build_meta(timm.create_model, name)
        extra = TIMM_EL_EXTRA if arch == 'el' else 0
        assert n + extra == count_params(ref, ['classifier.']), name
        assert ours.feat_dim == ref.num_features
    if arch in TORCHVISION:
        ref = build_meta(getattr(torchvision.models, f'efficientnet_{arch}'))
        assert n == count_params(ref, ['classifier.'])


@pytest.mark.parametrize('arch', ['b0', 'b3', 'b7', 'l2', 'es', 'el'])
def test_keys_equal_mmpretrain(arch):
    ours = build_meta(EfficientNet, arch).state_dict()
    ref = mmpretrain_meta(arch).state_dict()
    assert list(ours) == list(ref)
    assert all(ours[k].shape == ref[k].shape for k in ours)


def test_b0_is_paper_table_1():
    model = EfficientNet('b0', out_indices=tuple(range(7)))
    assert model.stage_channels == (32, 16, 24, 40, 112, 320, 1280)
    assert model.stage_strides == (2, 2, 4, 8, 16, 32, 32)
    assert model.out_indices == (0, 1, 2, 3, 4, 5, 6)
    assert EfficientNet().out_indices == (6, )  # mmpretrain's default
    # Table 1 #Layers: 1, 2, 2, 3 + 3, 4 + 1 blocks per layer.
    assert [len(model.layers[i]) for i in range(1, 6)] == [1, 2, 2, 6, 5]
    kernels = [b.depthwise_conv.conv.kernel_size[0]
               for i in range(1, 6) for b in model.layers[i]]
    assert kernels == [3, 3, 3, 5, 5, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 3]
    first = model.layers[1][0]
    assert not hasattr(first, 'expand_conv')  # MBConv1: no expansion
    # SE squeezes the block's input channels by 4 (not the expanded ones).
    block = model.layers[2][1]  # 24 -> 144 -> 24
    assert block.expand_conv.conv.out_channels == 144
    assert block.se.conv1.conv.out_channels == 6
    assert first.se.conv1.conv.out_channels == 8
    assert block.with_res_shortcut and not model.layers[2][0]\
        .with_res_shortcut
    assert isinstance(block.depthwise_conv.activate, nn.SiLU)


def test_compound_scaling_b4():
    # width 1.4, depth 1.8: ceil(1.8 * L) blocks, channels rounded to 8.
    layers = scale_stages(EFFICIENTNET_ARCHS['b4'])
    assert [len(layer) for layer in layers] == [2, 4, 4, 6 + 6, 8 + 2]
    assert [layer[-1].out_channels for layer in layers] == [
        24, 32, 56, 160, 448]
    assert EfficientNet('b4').feat_dim == 1792


def test_edgetpu_tables():
    model = EfficientNet('es', act_cfg=RELU, out_indices=tuple(range(7)))
    assert model.stage_channels == (32, 24, 32, 48, 144, 192, 1280)
    assert [len(model.layers[i]) for i in range(1, 6)] == [1, 2, 4, 9, 2]
    # Fused MBConv in layers 1-3, MBConv after; no SE anywhere.
    assert all(isinstance(b, EdgeResidual)
               for i in (1, 2, 3) for b in model.layers[i])
    assert not any(isinstance(b, EdgeResidual)
                   for i in (4, 5) for b in model.layers[i])
    assert not any(hasattr(b, 'se') for i in range(1, 6)
                   for b in model.layers[i])
    assert model.layers[2][0].conv1.conv.out_channels == 24 * 8  # input x8
    assert isinstance(model.layers[2][0].conv1.activate, nn.ReLU)
    assert model.layers[2][1].with_res_shortcut
    # em: the first stage's repeat expands its 24 channels 4x, no shortcut.
    layer1 = EfficientNet('em', act_cfg=RELU).layers[1]
    assert [b.conv1.conv.out_channels for b in layer1] == [96, 96]
    assert not layer1[1].with_res_shortcut


def test_edgetpu_forward_backward_with_cp():
    model = EfficientNet('es', act_cfg=RELU, out_indices=tuple(range(7)),
                         drop_path_rate=0.1)
    check_forward_backward(model, small_input(32))
    check_with_cp(lambda **kw: EfficientNet('es', act_cfg=RELU, **kw),
                  small_input(32))


def test_same_padding_only_where_it_differs():
    model = EfficientNet('b0')
    same = {n for n, m in model.named_modules()
            if isinstance(m, Conv2dAdaptivePadding)}
    # The stem and the strided depthwise convs (and the 1x1 convs of the
    # strided blocks, where SAME adds nothing).
    assert 'layers.0.conv' in same
    assert 'layers.2.0.depthwise_conv.conv' in same
    assert 'layers.2.1.depthwise_conv.conv' not in same
    assert 'layers.6.conv' not in same
    assert not any(isinstance(m, Conv2dAdaptivePadding)
                   for m in EfficientNet('b0', **SYMMETRIC).modules())
    # Odd input: SAME pads like TensorFlow (ceil(size / stride)).
    out, = EfficientNet(TINY, out_indices=0)(torch.rand(1, 3, 33, 33))
    assert out.shape[-2:] == (17, 17)


def torchvision_stages(model):
    """Our seven outputs from torchvision's ``features``: 0-3 as they are,
    our layers 4 / 5 end after features 5 / 7, then features 8."""
    def run(x):
        outs = []
        for i, layer in enumerate(model.features):
            x = layer(x)
            if i in (0, 1, 2, 3, 5, 7, 8):
                outs.append(x)
        return outs
    return run


def timm_stages(model):
    # Ours end after timm's stages 0, 1, 2, 4 (80+112 / EdgeTPU 96+144)
    # and the last (192+320 / EdgeTPU 192).
    ends = (0, 1, 2, 4, len(model.blocks) - 1)

    def run(x):
        x = model.bn1(model.conv_stem(x))
        outs = [x]
        for i, stage in enumerate(model.blocks):
            x = stage(x)
            if i in ends:
                outs.append(x)
        outs.append(model.bn2(model.conv_head(x)))
        return outs
    return run


ALL = tuple(range(7))


@pytest.mark.parametrize('arch,norm', [('b0', EPS5), ('b5', None)])
def test_torchvision_equivalence_every_stage(arch, norm):
    # torchvision: BN eps 1e-5 for B0-B4, 1e-3 for B5-B7; symmetric padding.
    ref = randomize_bn(getattr(torchvision.models, f'efficientnet_{arch}')())
    kwargs = dict(norm_cfg=norm) if norm else {}
    ours = EfficientNet(arch, out_indices=ALL, **SYMMETRIC, **kwargs)
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours), strict=True)
    ref.eval()
    check_equivalent_outputs(ours, torchvision_stages(ref), small_input())


@pytest.mark.parametrize('name,kwargs,size', [
    ('efficientnet_b1', dict(norm_cfg=EPS5, **SYMMETRIC), 64),
    ('tf_efficientnet_b2', {}, 57),  # SAME padding, odd size
    ('efficientnet_es', dict(norm_cfg=EPS5, act_cfg=RELU, **SYMMETRIC), 64),
    ('tf_efficientnet_em', dict(act_cfg=RELU), 57),
])
def test_timm_equivalence_every_stage(name, kwargs, size):
    ref = randomize_bn(timm.create_model(name)).eval()
    ours = EfficientNet(name.split('_')[-1], out_indices=ALL, **kwargs)
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'timm', ours), strict=True)
    check_equivalent_outputs(ours, timm_stages(ref), small_input(size))


@pytest.mark.parametrize('arch,size,kwargs', [
    ('b0', 57, {}), ('b3', 64, {}), ('el', 57, dict(act_cfg=RELU))])
def test_mmpretrain_equivalence_every_stage(arch, size, kwargs):
    check_mmpretrain_checkpoint(
        EfficientNet(arch, out_indices=ALL, **kwargs),
        MMPretrainEfficientNet(arch, out_indices=ALL, **kwargs),
        small_input(size))


def test_drop_path_rates_as_mmpretrain():
    ours = EfficientNet('b0', drop_path_rate=0.2)
    ref = MMPretrainEfficientNet('b0', drop_path_rate=0.2)
    ours_rates = [b.drop_path_rate for i in range(1, 6)
                  for b in ours.layers[i]]
    ref_rates = [getattr(b.drop_path, 'drop_prob', 0.)
                 for i in range(1, 6) for b in ref.layers[i]]
    assert ours_rates == pytest.approx(ref_rates)
    assert ours_rates[0] == 0 and ours_rates[-1] == pytest.approx(0.2)
    # Training: stochastic; eval: deterministic, as without drop path.
    model = EfficientNet(TINY, drop_path_rate=0.5)
    x = small_input(32)
    torch.manual_seed(0)
    a = model.train()(x)[0]
    b = model(x)[0]
    assert not torch.equal(a, b)
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])


def test_drop_path_drops_or_scales_each_sample():
    # Per sample: the residual branch is dropped (output = input) or kept
    # and scaled by 1 / (1 - rate), as mmcv's / mmpretrain's DropPath.
    block = EfficientNet(TINY, drop_path_rate=0.5).layers[5][1].train()
    assert block.with_res_shortcut and block.drop_path_rate > 0
    block.drop_path_rate = 0.5
    plain = copy.deepcopy(block)
    plain.drop_path_rate = 0.
    x = torch.rand(16, block.linear_conv.conv.out_channels, 4, 4)
    torch.manual_seed(0)
    with torch.no_grad():
        branch = plain(x) - x
        out = block(x)
    dropped = [torch.allclose(o, i) for o, i in zip(out, x)]
    kept = [torch.allclose(o, i + 2 * b, atol=1e-5)
            for o, i, b in zip(out, x, branch)]
    assert all(d != k for d, k in zip(dropped, kept))
    assert any(dropped) and any(kept)


def test_frozen_stages_counts_layers_as_mmpretrain():
    # frozen_stages=k freezes layers.0..layers.{k-1}: 0 nothing, 1 the stem
    # (tests/test_freezing.py compares every k with mmpretrain's).
    for frozen in (-1, 0, 1, 7):
        model = EfficientNet(arch=TINY, frozen_stages=frozen).train()
        for i, layer in enumerate(model.layers):
            assert all(p.requires_grad == (i >= frozen)
                       for p in layer.parameters()), (frozen, i)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"arch must be one of \['b0'"):
        EfficientNet(arch='b9')
    with pytest.raises(ValueError, match=r"missing the keys \['depth'\]"):
        EfficientNet(arch=dict(width=1.0))
    with pytest.raises(ValueError, match='custom arch width must be a '
                       'positive number'):
        EfficientNet(arch=dict(width=0, depth=1.0))
    with pytest.raises(ValueError, match='unknown keys'):
        EfficientNet(arch=dict(width=1.0, depth=1.0, widht=2))
    with pytest.raises(ValueError, match='custom arch depth must be a '
                       'positive number'):
        EfficientNet(arch=dict(width=1.0, depth=True))
    with pytest.raises(ValueError, match='custom arch resolution must be a '
                       'positive int'):
        EfficientNet(arch=dict(width=1.0, depth=1.0, resolution=224.5))
    with pytest.raises(ValueError, match=r'drop_path_rate must be in \[0, '
                       r"1\), but got '0.1'"):
        EfficientNet(drop_path_rate='0.1')
    with pytest.raises(TypeError, match='arch must be one of'):
        EfficientNet(arch=0)
    with pytest.raises(ValueError, match='drop_path_rate must be in'):
        EfficientNet(drop_path_rate=1.0)
    with pytest.raises(ValueError, match=r'frozen_stages must be in -1..7'):
        EfficientNet(frozen_stages=8)
    with pytest.raises(ValueError, match='out_indices 7 is out of range'):
        EfficientNet(out_indices=(7, ))


def test_custom_arch_and_registry():
    model = MODELS.build(dict(type='EfficientNet', arch=dict(
        width=0.5, depth=0.5), out_indices=(0, 6)))
    assert model.stage_channels == (16, 8, 16, 24, 56, 160, 640)
    outs = model.eval()(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 32, 32),
                                              (1, 640, 2, 2)]


def test_converter_rejects_other_architecture():
    ref = torchvision.models.efficientnet_b0()
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'torchvision',
                           EfficientNet('b1'))


class TestEfficientNetContract(BackboneContract):
    num_stages = 7
    input_size = 32
    registry_cfg = dict(type='EfficientNet', arch=TINY)

    @staticmethod
    def build(**kwargs):
        return EfficientNet(arch=TINY, **kwargs)
