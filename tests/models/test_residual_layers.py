"""The shared residual bricks (models/layers/residual.py), the conv + norm
builder (models/layers/conv.py) and the base-argument rule of the ResNet
family and HRNet."""
import inspect

import pytest
import torch
import torch.nn as nn

from mmbackbones.models import (HRNet, Res2Net, ResNeSt, ResNet, ResNetV1c,
                                ResNetV1d, ResNetV2, ResNeXt, SEResNet,
                                SEResNeXt)
from mmbackbones.models.backbones import resnet
from mmbackbones.models.backbones.resnet_v2 import (PreActBasicBlock,
                                                    PreActBottleneck)
from mmbackbones.models.layers import residual
from mmbackbones.models.layers.conv import (add_conv_norm, conv_norm,
                                            norm_property)

BASE_ARGUMENTS = ('frozen_stages', 'norm_eval', 'with_cp', 'in_channels',
                  'init_cfg')

FAMILIES = [
    (ResNet, dict(depth=18)),
    (ResNetV1c, dict(depth=18)),
    (ResNetV1d, dict(depth=18)),
    (ResNeXt, dict(depth=50, groups=2, width_per_group=4)),
    (SEResNet, dict(depth=50)),
    (SEResNeXt, dict(depth=50, groups=2, width_per_group=4)),
    (ResNeSt, dict(depth=50)),
    (Res2Net, dict(depth=50)),
    (ResNetV2, dict(depth=18)),
    (HRNet, dict(arch='w18')),
]


def test_blocks_are_one_object_wherever_imported():
    # cspnet.py and users import them from backbones.resnet.
    for name in ('ResidualBlock', 'BasicBlock', 'Bottleneck',
                 'make_res_layer', 'make_downsample',
                 'zero_init_residual_blocks'):
        assert getattr(resnet, name) is getattr(residual, name), name
    assert resnet.Bottleneck.__module__ == 'mmbackbones.models.layers.residual'


def test_block_arguments_after_the_channels_are_keyword_only():
    # ResidualBlock's third positional argument is expansion: a positional
    # 2 must not silently become groups=2.
    with pytest.raises(TypeError, match='positional'):
        residual.Bottleneck(64, 256, 2)
    block = residual.Bottleneck(64, 256, groups=2, width_per_group=32)
    assert block.conv2.groups == 2 and block.mid_channels == 64


def test_conv_norm_layouts_and_norm_names():
    seq = conv_norm(4, 8, 3, stride=2, norm_cfg=dict(type='GN',
                                                     num_groups=2),
                    act_cfg=dict(type='ReLU'))
    assert [k for k, _ in seq.named_children()] == ['0', '1', '2']
    assert seq[0].padding == (1, 1) and seq[0].bias is None
    assert isinstance(seq[1], nn.GroupNorm)

    class Owner(nn.Module):
        norm3 = norm_property(3)

    owner = Owner()
    name = add_conv_norm(owner, 3, 4, 8, 3, dilation=2,
                         norm_cfg=dict(type='GN', num_groups=2))
    assert name == 'gn3' == owner.norm3_name
    assert owner.norm3 is owner.gn3 and owner.conv3.padding == (2, 2)
    assert [k for k, _ in owner.named_children()] == ['conv3', 'gn3']


def test_group_norm_blocks_and_stems_read_their_norms():
    model = ResNet(depth=50, norm_cfg=dict(type='GN', num_groups=4))
    block = model.layer1[0]
    assert model.norm1 is model.gn1
    assert (block.norm1, block.norm2, block.norm3) == (block.gn1, block.gn2,
                                                       block.gn3)
    hrnet = HRNet(arch='w18', norm_cfg=dict(type='GN', num_groups=2))
    assert hrnet.norm1 is hrnet.gn1 and hrnet.norm2 is hrnet.gn2


def test_zero_init_reaches_every_kind_of_residual_block():
    for block, last in ((residual.BasicBlock(8, 8), 'bn2'),
                        (residual.Bottleneck(8, 32), 'bn3')):
        nn.init.ones_(getattr(block, last).weight)
        residual.zero_init_residual_blocks(nn.Sequential(block))
        assert not getattr(block, last).weight.any()
        assert not getattr(block, last).bias.any()
    for unit, last in ((PreActBasicBlock(8, 8), 'conv2'),
                       (PreActBottleneck(8, 32), 'conv3')):
        residual.zero_init_residual_blocks(nn.Sequential(unit))
        assert not getattr(unit, last).weight.any()
        assert getattr(unit, 'conv1').weight.any()
        x = torch.rand(1, 8, 4, 4)
        if unit.downsample is None:  # the identity, exactly
            assert torch.equal(unit(x), x)


def test_hrnet_zero_init_leaves_stage1_alone():
    model = HRNet(arch='w18', zero_init_residual=True)
    model.init_weights()
    assert model.layer1[0].bn3.weight.all()
    assert not model.stage2[0].branches[0][0].bn2.weight.any()


@pytest.mark.parametrize('cls, args', FAMILIES,
                         ids=[c.__name__ for c, _ in FAMILIES])
def test_base_argument_rule(cls, args):
    params = inspect.signature(cls).parameters
    # The family lists its own arguments, out_indices with its default,
    # and passes the base's through.
    assert not set(BASE_ARGUMENTS) & set(params)
    assert 'out_indices' in params or 'kwargs' in params
    assert cls.__doc__ is not None
    model = cls(**args, frozen_stages=0, norm_eval=True, in_channels=1)
    assert (model.frozen_stages, model.norm_eval, model.in_channels) == (
        0, True, 1)
    # A misspelt argument still names itself.
    with pytest.raises(TypeError, match='frozen_stage'):
        cls(**args, frozen_stage=1)


def test_mmdet_and_mmseg_resnet_arguments_still_work():
    model = ResNet(depth=18, in_channels=3, stem_channels=64,
                   base_channels=64, num_stages=4, strides=(1, 2, 2, 1),
                   dilations=(1, 1, 1, 2), out_indices=(0, 1, 2, 3),
                   style='pytorch', deep_stem=False, avg_down=False,
                   frozen_stages=1, conv_cfg=None,
                   norm_cfg=dict(type='BN', requires_grad=True),
                   norm_eval=True, dcn=None,
                   stage_with_dcn=(False, False, False, False), plugins=None,
                   with_cp=False, zero_init_residual=True, pretrained=None,
                   init_cfg=None)
    assert model.out_strides == (4, 8, 16, 16)
    with pytest.warns(UserWarning, match='pretrained is deprecated'):
        model = HRNet(arch='w18', pretrained='weights.pth')
    assert model.pretrained_cfg == dict(type='Pretrained',
                                        checkpoint='weights.pth')
