from functools import partial

import pytest
import timm
import torch
from backbone_checks import (BackboneContract, build_meta,
                             check_equivalent_outputs,
                             check_mmpretrain_checkpoint, count_params,
                             randomize_bn)
from mmcv.cnn import ConvModule
from mmpretrain import models as mmpretrain_models
from mmpretrain.models.backbones.cspnet import CSPNet as MMPretrainCSPNet
from mmpretrain.models.backbones.cspnet import DarknetBottleneck
from mmpretrain.models.backbones.resnet import Bottleneck as MMResNetBlock
from mmpretrain.models.backbones.resnext import Bottleneck as MMResNeXtBlock

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import (CSPDARKNET_ARCHS, DARKNET_ARCHS, CSPDarkNet,
                                CSPNet, CSPResNet, CSPResNeXt, CSPStage,
                                DarkBlock)
from mmbackbones.registry import MODELS

#: (our class, depth, timm model, stages)
VARIANTS = {
    'CSPDarkNet': (CSPDarkNet, 53, 'cspdarknet53', 5),
    'CSPResNet': (CSPResNet, 50, 'cspresnet50', 4),
    'CSPResNeXt': (CSPResNeXt, 50, 'cspresnext50', 4),
}
PARAMS = {'CSPDarkNet': 26617184, 'CSPResNet': 20591168,
          'CSPResNeXt': 18520896}

TINY_DARK = dict(in_channels=(8, 16, 16, 32, 32),
                 out_channels=(16, 16, 32, 32, 64), num_blocks=(1, 1, 2, 1, 1),
                 expand_ratio=(2, 1, 1, 1, 1), bottle_ratio=(2, 1, 1, 1, 1),
                 has_downsampler=True, down_growth=True)
TINY_RES = dict(in_channels=(16, 32, 64, 64), out_channels=(32, 64, 64, 128),
                num_blocks=(1, 2, 1, 1), expand_ratio=4, bottle_ratio=2,
                has_downsampler=(False, True, True, True), down_growth=False)


def timm_stages(model, num_stages):
    def run(x):
        x = model.stem(x)
        outs = []
        for stage in model.stages:
            x = stage(x)
            outs.append(x)
        return outs

    return run


@pytest.mark.parametrize('name', list(VARIANTS))
def test_params_match_timm_and_mmpretrain(name):
    cls, depth, timm_name, _ = VARIANTS[name]
    ours = count_params(build_meta(cls, depth))
    ref_timm = build_meta(timm.create_model, timm_name)
    assert ours == count_params(ref_timm, exclude_prefixes=['head.'])
    # mmpretrain's CSPNet calls .tolist() while building: no meta device
    assert ours == count_params(
        getattr(mmpretrain_models, name)(depth=depth))
    assert ours == PARAMS[name]


@pytest.mark.parametrize('name', list(VARIANTS))
def test_timm_equivalence_every_stage(name):
    cls, depth, timm_name, num_stages = VARIANTS[name]
    ref = randomize_bn(timm.create_model(timm_name)).eval()
    ours = cls(depth, out_indices=tuple(range(num_stages)))
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    check_equivalent_outputs(ours, timm_stages(ref, num_stages),
                             torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize('name', list(VARIANTS))
def test_mmpretrain_equivalence_every_stage(name):
    cls, depth, _, num_stages = VARIANTS[name]
    out_indices = tuple(range(num_stages))
    ref = getattr(mmpretrain_models, name)(depth=depth,
                                           out_indices=out_indices)
    ours = cls(depth, out_indices=out_indices)
    check_mmpretrain_checkpoint(ours, ref, torch.rand(1, 3, 32, 32))
    assert list(ours.state_dict()) == list(ref.state_dict())


def ours_channels(cls, depth):
    return build_meta(cls, depth).stage_channels[-1]


def test_timm_deep_stem_converter():
    """timm's cspresnet50d stem (conv1..3) maps to our deep_stem."""
    ref = timm.create_model('cspresnet50d')
    ours = CSPResNet(50, deep_stem=True)
    converted = convert_state_dict(ref.state_dict(), 'timm', ours)
    torch.testing.assert_close(converted['stem.2.conv.weight'],
                               ref.stem.conv3.conv.weight)


def test_arch_tables():
    dark = build_meta(CSPDarkNet, 53, out_indices=(0, 1, 2, 3, 4))
    assert dark.stage_strides == (2, 4, 8, 16, 32)
    # CSPDarknet-53 is Darknet-53 (YOLOv3 Table 1) made cross-stage
    arch = CSPDARKNET_ARCHS[53]
    assert arch.num_blocks == DARKNET_ARCHS[53].num_blocks
    assert arch.out_channels == DARKNET_ARCHS[53].channels
    # the partial path: half of the expansion goes through the blocks
    assert dark.stages[2].blocks[0].conv1.conv.in_channels == 128
    assert isinstance(dark.stages[0].blocks[0], DarkBlock)
    res = build_meta(CSPResNet, 50, out_indices=(0, 1, 2, 3))
    assert res.stage_strides == (4, 8, 16, 32)
    assert isinstance(res.stages[0].downsample_conv, torch.nn.Identity)
    assert not res.stages[0].expand_conv.with_activation  # linear
    assert dark.stages[0].expand_conv.with_activation
    xt = build_meta(CSPResNeXt, 50)
    assert xt.stages[1].downsample_conv.conv.groups == 32
    assert xt.stages[0].blocks[0].conv2.groups == 32
    assert xt.stages[0].blocks[0].conv2.in_channels == 128
    assert (xt.out_channels, res.stage_channels, dark.out_channels[-1]) == (
        (2048, ), (128, 256, 512, 1024), 1024)


def test_csp_stage_split():
    """The blocks see only the second half of the expansion: changing the
    first half changes the output only through the cross path."""
    stage = CSPStage(8, 16, 1, lambda c, e, d: DarkBlock(c, e),
                     expand_ratio=2, bottle_ratio=2).eval()
    assert stage.split == 8 and stage.blocks[0].conv1.conv.in_channels == 8
    assert stage(torch.rand(1, 8, 8, 8)).shape == (1, 16, 4, 4)


class TestCSPDarkNetContract(BackboneContract):
    num_stages = 5
    input_size = 32
    registry_cfg = dict(type='CSPDarkNet', depth=TINY_DARK)

    @staticmethod
    def build(**kwargs):
        return CSPDarkNet(TINY_DARK, **kwargs)


class TestCSPResNetContract(BackboneContract):
    num_stages = 4
    registry_cfg = dict(type='CSPResNet', depth=TINY_RES)

    @staticmethod
    def build(**kwargs):
        return CSPResNet(TINY_RES, **kwargs)


def test_cspresnext_forward_backward_deep_stem():
    model = CSPResNeXt(dict(in_channels=(64, 128, 256, 256),
                            out_channels=(128, 256, 256, 512),
                            num_blocks=(1, 1, 1, 1),
                            expand_ratio=(4, 2, 2, 2), bottle_ratio=4,
                            has_downsampler=(False, True, True, True),
                            down_growth=False),
                       deep_stem=True, out_indices=(0, 3)).train()
    outs = model(torch.rand(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 128, 8, 8), (2, 512, 1, 1)]
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_bad_arguments():
    with pytest.raises(ValueError, match=r'depth must be one of \[53\]'):
        CSPDarkNet(depth=50)
    with pytest.raises(ValueError, match=r'depth must be one of \[50\]'):
        CSPResNeXt(depth=101)
    with pytest.raises(ValueError, match='missing the keys'):
        CSPResNet(dict(in_channels=(16, 32)))
    with pytest.raises(ValueError, match='one per stage'):
        CSPResNet(dict(TINY_RES, num_blocks=(1, 1)))
    with pytest.raises(ValueError, match='in_channels must be a list'):
        CSPResNet(dict(TINY_RES, in_channels=16))
    with pytest.raises(ValueError, match=r'in_channels\[1\]=.*out_channels'):
        CSPResNet(dict(TINY_RES, in_channels=(16, 16, 64, 64)))
    with pytest.raises(ValueError, match='unknown keys'):
        CSPResNet(dict(TINY_RES, block_fn='x'))
    with pytest.raises(ValueError, match='down_growth needs'):
        CSPResNet(dict(TINY_RES, down_growth=True))
    with pytest.raises(ValueError, match='even'):
        # 64 x 65/64 = 65 channels cannot split in halves
        CSPResNet(dict(TINY_RES, expand_ratio=(4, 4, 4, 65 / 64)))
    with pytest.raises(ValueError, match='positive ints'):
        CSPDarkNet(dict(TINY_DARK, num_blocks=(1, 0, 1, 1, 1)))


def test_converter_rejects_other_architecture():
    ref = timm.create_model('cspresnet50')
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'timm', CSPResNeXt(50))
    with pytest.raises(ValueError, match="no converter from 'torchvision'"):
        convert_state_dict(ref.state_dict(), 'torchvision', CSPResNet(50))


def test_registry_builds_presets():
    for name, (cls, depth, _, num_stages) in VARIANTS.items():
        model = MODELS.build(dict(type=name, depth=depth))
        assert type(model) is cls and model.out_indices == (num_stages - 1, )


# --------------------------------------------------------------------- #
# The generic CSPNet(arch=dict(block_fn=...), stem_fn=...), as mmpretrain
# --------------------------------------------------------------------- #
def conv_stem(channels, kernel_size=3, stride=1):
    """A stem_fn both build alike: mmpretrain CSPDarkNet's ConvModule."""
    return partial(ConvModule, out_channels=channels,
                   kernel_size=kernel_size, stride=stride,
                   padding=kernel_size // 2,
                   norm_cfg=dict(type='BN', eps=1e-5),
                   act_cfg=dict(type='LeakyReLU', inplace=True))


#: mmpretrain's CSPDarkNet preset (arch_settings[53]) written out, as a
#: user of its generic CSPNet writes it.
DARK_ARCH = dict(block_fn=DarknetBottleneck,
                 in_channels=(32, 64, 128, 256, 512),
                 out_channels=(64, 128, 256, 512, 1024),
                 num_blocks=(1, 2, 8, 8, 4), expand_ratio=(2, 1, 1, 1, 1),
                 bottle_ratio=(2, 1, 1, 1, 1), has_downsampler=True,
                 down_growth=True)
#: (arch, stem_fn, strides of the stages)
GENERIC = {
    'darknet53': (DARK_ARCH, conv_stem(32), (2, 4, 8, 16, 32)),
    'resnet': (dict(TINY_RES, block_fn=MMResNetBlock), conv_stem(16, 7, 2),
               (2, 4, 8, 16)),
    # 32-group downsamplers and base_channels from block_args
    'resnext': (dict(block_fn=MMResNeXtBlock, in_channels=(64, 128),
                     out_channels=(128, 256), num_blocks=(1, 1),
                     expand_ratio=(4, 2), bottle_ratio=4,
                     has_downsampler=(False, True),
                     block_args=dict(base_channels=32)),
                conv_stem(64), (1, 2)),
    # a block_fn we do not know: called as mmpretrain calls it (linear
    # expansion conv, since it is not DarknetBottleneck itself)
    'foreign': (dict(TINY_DARK, block_fn=partial(DarknetBottleneck,
                                                 add_identity=False)),
                conv_stem(8), (2, 4, 8, 16, 32)),
    # mmpretrain's CSPNet docstring example: an unpadded Conv2d stem
    'docstring': (dict(block_fn=MMResNetBlock, in_channels=[32, 64],
                       out_channels=[64, 128], num_blocks=[3, 4]),
                  partial(torch.nn.Conv2d, out_channels=32, kernel_size=3),
                  (2, 4)),
}


@pytest.mark.parametrize('name', list(GENERIC))
def test_generic_cspnet_equals_mmpretrain(name):
    """Same config, same keys and shapes, same outputs after loading
    mmpretrain's random weights (randomised BN)."""
    arch, stem_fn, strides = GENERIC[name]
    out_indices = tuple(range(len(arch['in_channels'])))
    ref = MMPretrainCSPNet(arch=arch, stem_fn=stem_fn,
                           out_indices=out_indices)
    ours = MODELS.build(dict(type='CSPNet', arch=arch, stem_fn=stem_fn,
                             out_indices=out_indices))
    assert type(ours) is CSPNet
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in ref.state_dict().items()]
    check_mmpretrain_checkpoint(ours, ref, torch.rand(1, 3, 32, 32))
    assert ours.stage_strides == strides


def test_generic_cspnet_maps_mmpretrain_blocks_to_ours():
    dark = build_meta(CSPNet, DARK_ARCH, conv_stem(32))
    assert isinstance(dark.stages[0].blocks[0], DarkBlock)
    assert dark.stages[0].expand_conv.with_activation  # as mmpretrain's
    arch, stem_fn, _ = GENERIC['resnext']
    xt = build_meta(CSPNet, arch, stem_fn)
    assert type(xt.stages[0].blocks[0]).__module__.startswith('mmbackbones')
    assert xt.stages[1].downsample_conv.conv.groups == 32
    assert not xt.stages[1].expand_conv.with_activation
    # our own Bottleneck: the downsampler has the blocks' groups
    ours = build_meta(CSPNet, dict(arch, block_fn=type(
        build_meta(CSPResNet, 50).stages[0].blocks[0]),
        block_args=dict(groups=8, base_channels=32)), stem_fn)
    assert ours.stages[1].downsample_conv.conv.groups == 8
    assert ours.stages[1].blocks[0].conv2.groups == 8
    arch, stem_fn, _ = GENERIC['foreign']
    foreign = build_meta(CSPNet, arch, stem_fn)
    assert isinstance(foreign.stages[0].blocks[0], DarknetBottleneck)
    assert not foreign.stages[0].expand_conv.with_activation


def frozen_names(model):
    return sorted(n for n, p in model.named_parameters()
                  if not p.requires_grad)


@pytest.mark.parametrize('frozen', [-1, 0, 1, 3])
def test_generic_cspnet_freezes_as_mmpretrain(frozen):
    arch, stem_fn, _ = GENERIC['resnet']
    ref = MMPretrainCSPNet(arch=arch, stem_fn=stem_fn, frozen_stages=frozen)
    ref.train()
    ours = CSPNet(arch, stem_fn, frozen_stages=frozen).train()
    assert frozen_names(ours) == frozen_names(ref)
    assert bool(frozen_names(ours)) == (frozen >= 0)


def test_generic_cspnet_bad_arguments():
    arch, stem_fn, _ = GENERIC['resnet']
    with pytest.raises(TypeError, match='arch must be a dict'):
        CSPNet(53, stem_fn)
    with pytest.raises(ValueError, match=r"missing the keys \['block_fn'\]"):
        CSPNet(TINY_RES, stem_fn)
    with pytest.raises(ValueError, match='unknown keys'):
        CSPNet(dict(arch, expansion_ratio=2), stem_fn)
    with pytest.raises(TypeError, match='block_fn must be'):
        CSPNet(dict(arch, block_fn='Bottleneck'), stem_fn)
    with pytest.raises(ValueError, match='use_depthwise=True is not '
                       'supported.*DarkBlock'):
        CSPNet(dict(TINY_DARK, block_fn=DarknetBottleneck,
                    block_args=dict(use_depthwise=True)), conv_stem(8))
    # mmpretrain's defaults are taken as they are
    CSPNet(dict(TINY_DARK, block_fn=DarknetBottleneck,
                block_args=dict(use_depthwise=False)), conv_stem(8))
    with pytest.raises(ValueError, match=r"'with_cp'.*valid: \['dilation', "
                       r"'style'\]"):
        CSPNet(dict(arch, block_args=dict(with_cp=True)), stem_fn)
    with pytest.raises(ValueError, match='block_args has 2 entries.*one '
                       'per stage'):
        CSPNet(dict(arch, block_args=({}, {})), stem_fn)
    with pytest.raises(TypeError, match=r'block_args\[0\] must be a dict'):
        CSPNet(dict(arch, block_args=[3, {}, {}, {}]), stem_fn)
    with pytest.raises(ValueError, match=r'stem_fn\(3\) must give 16 '
                       'channels'):
        CSPNet(arch, conv_stem(8))
    with pytest.raises(TypeError, match='stem_fn must be a callable'):
        CSPNet(arch, 'conv')
    with pytest.raises(ValueError, match='expand_ratio must be a positive'):
        CSPNet(dict(arch, expand_ratio=0), stem_fn)
    with pytest.raises(ValueError, match='has_downsampler must be a bool'):
        CSPNet(dict(arch, has_downsampler=1), stem_fn)
    # a misspelt base argument names itself (the base's signature)
    with pytest.raises(TypeError, match='frozen_stage'):
        CSPNet(arch, stem_fn, frozen_stage=1)
    with pytest.raises(TypeError, match='froze_stages'):
        CSPDarkNet(53, froze_stages=1)
    # mmpretrain's positional in_channels is not silently out_indices
    with pytest.raises(TypeError):
        CSPDarkNet(53, 3)
