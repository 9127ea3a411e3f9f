"""ResNet / ResNetV1c / ResNetV1d, and the contract of the shared residual
machinery for every family built on it (ResNeXt, SE-ResNet(X), ResNeSt,
Res2Net): their reference tests live in their own files."""
import pytest
import torchvision
from backbone_checks import (build_meta, check_bad_arguments,
                             check_bad_input, check_channels_last,
                             check_equivalent,
                             check_forward_backward, check_frozen_stages,
                             check_mmpretrain_equivalence, check_norm_eval,
                             check_out_indices, check_with_cp, count_params,
                             randomize_bn, small_input, torchvision_features)
from timm import create_model

from mmbackbones import models
from mmbackbones.converters import convert_state_dict
from mmbackbones.models import ResNet, ResNetV1c, ResNetV1d
from mmbackbones.registry import MODELS

#: One member of each family: (type, arguments). The bottleneck families
#: use a short custom depth (one block per stage; Res2Net two in its second
#: stage, for the block that adds the splits): every code path at a fraction
#: of the cost. Their real depths run in the reference tests.
SHORT = dict(stage_blocks=(1, 1, 1, 1))
FAMILIES = {
    'ResNet-18': ('ResNet', dict(depth=18)),
    'ResNetV1c': ('ResNetV1c', dict(depth=SHORT)),
    'ResNetV1d': ('ResNetV1d', dict(depth=SHORT)),
    'ResNeXt': ('ResNeXt', dict(depth=SHORT, groups=32, width_per_group=4)),
    'SEResNet': ('SEResNet', dict(depth=SHORT)),
    'SEResNeXt': ('SEResNeXt', dict(depth=SHORT)),
    'ResNeSt': ('ResNeSt', dict(depth=SHORT)),
    'Res2Net': ('Res2Net', dict(depth=dict(stage_blocks=(1, 2, 1, 1)),
                                scales=4, base_width=26)),
}


def family_factory(name):
    type_name, arch = FAMILIES[name]
    return lambda **kw: getattr(models, type_name)(**arch, **kw)


# --------------------------------------------------------------------- #
# The shared contract, for every family
# --------------------------------------------------------------------- #
@pytest.mark.parametrize('name', list(FAMILIES))
def test_train_step_contiguous_and_channels_last(name):
    model = family_factory(name)(out_indices=(0, 1, 2, 3))
    check_forward_backward(model, small_input())
    expansion = 1 if name == 'ResNet-18' else 4
    assert model.feature_info == [
        dict(index=i, channels=64 * expansion * 2**i, stride=4 * 2**i)
        for i in range(4)
    ]
    model.zero_grad()
    check_channels_last(model, small_input())


@pytest.mark.parametrize('name', ['ResNet-18', 'Res2Net'])
def test_with_cp(name):
    check_with_cp(lambda **kw: family_factory(name)(out_indices=(1, 3), **kw),
                  small_input())


@pytest.mark.parametrize('name', ['ResNet-18', 'ResNetV1d'])
@pytest.mark.parametrize('frozen', [0, 2, 4])
def test_frozen_stages(name, frozen):
    check_frozen_stages(family_factory(name), frozen)


@pytest.mark.parametrize('name', ['ResNet-18', 'SEResNet'])
def test_norm_eval(name):
    check_norm_eval(family_factory(name), small_input())


@pytest.mark.parametrize('name', list(FAMILIES))
def test_out_indices_and_bad_arguments(name):
    factory = family_factory(name)
    check_out_indices(factory, small_input(1), num_stages=4)
    check_bad_arguments(factory, num_stages=4)
    model = factory()
    assert model.out_indices == (3, )  # mmpretrain's default
    check_bad_input(model, small_input())


@pytest.mark.parametrize('name', list(FAMILIES))
def test_registry_builds_with_scope(name):
    type_name, arch = FAMILIES[name]
    model = MODELS.build(dict(type=f'mmbackbones.{type_name}', **arch))
    assert type(model).__name__ == type_name
    assert model.eval() is model and not model.training


# --------------------------------------------------------------------- #
# ResNet itself
# --------------------------------------------------------------------- #
@pytest.mark.parametrize('depth', [18, 34, 50, 101, 152])
def test_params_match_torchvision(depth):
    ours = build_meta(ResNet, depth=depth)
    ref = build_meta(getattr(torchvision.models, f'resnet{depth}'))
    assert count_params(ours) == count_params(ref, exclude_prefixes=['fc.'])


@pytest.mark.parametrize('cls, suffix', [(ResNetV1c, 'c'), (ResNetV1d, 'd')])
@pytest.mark.parametrize('depth', [50, 101, 152])
def test_v1c_v1d_params_match_timm(cls, suffix, depth):
    ours = build_meta(cls, depth=depth)
    ref = build_meta(create_model, f'resnet{depth}{suffix}', num_classes=0)
    assert count_params(ours) == count_params(ref)


@pytest.mark.parametrize('depth', [18, 50])  # one per block type
def test_torchvision_equivalence(depth):
    ref = randomize_bn(getattr(torchvision.models, f'resnet{depth}')())
    ours = ResNet(depth=depth)
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours),
        strict=True)
    check_equivalent(ours, torchvision_features(ref).eval(),
                     small_input())


@pytest.mark.parametrize('cls, name', [(ResNetV1c, 'resnet50c'),
                                       (ResNetV1d, 'resnet50d')])
def test_timm_equivalence(cls, name):
    ref = randomize_bn(create_model(name, num_classes=0)).eval()
    ours = cls(depth=50)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    check_equivalent(ours, ref.forward_features, small_input())


@pytest.mark.parametrize('cls, kwargs', [
    ('ResNetV1d', dict(depth=50)),
    # Dense prediction: output stride 8, the caffe stride position.
    ('ResNet', dict(depth=18, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                    style='caffe')),
    ('ResNet', dict(depth=50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                    style='caffe')),
])
def test_mmpretrain_equivalence(cls, kwargs):
    check_mmpretrain_equivalence(cls, **kwargs)


def test_dilated_strides_feature_info():
    model = ResNet(depth=18, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                   out_indices=(0, 1, 2, 3))
    assert model.out_strides == (4, 8, 8, 8)
    check_forward_backward(model, small_input(1, 64))


def test_fewer_stages_and_custom_depth():
    model = ResNet(depth=50, num_stages=2, out_indices=(0, 1))
    assert model.out_channels == (256, 512) and model.feat_dim == 512
    assert len(model(small_input(1))) == 2
    custom = ResNet(depth=dict(block='BasicBlock', stage_blocks=(1, 1, 1, 1)))
    assert [len(s) for s in custom.stage_modules()] == [1, 1, 1, 1]
    assert custom.out_channels == (512, )
    # A custom dict without a block gets the family's bottleneck.
    custom = ResNet(depth=dict(stage_blocks=(1, 2, 1, 1)))
    assert custom.out_channels == (2048, )


def test_bad_resnet_arguments():
    with pytest.raises(ValueError, match=r'depth must be one of \[18, 34'):
        ResNet(depth=42)
    with pytest.raises(ValueError, match="missing the keys"):
        ResNet(depth=dict(block='BasicBlock'))
    with pytest.raises(ValueError, match='block must be one of'):
        ResNet(depth=dict(block='Bottle', stage_blocks=(1, 1, 1, 1)))
    with pytest.raises(ValueError, match='unknown keys'):
        ResNet(depth=dict(stage_blocks=(1, 1, 1, 1), groups=2))
    with pytest.raises(ValueError, match='stage_blocks'):
        ResNet(depth=dict(stage_blocks=(1, 0, 1, 1)))
    with pytest.raises(ValueError, match='strides must be at least 4 pos'):
        ResNet(depth=18, strides=(1, 2, 2))
    with pytest.raises(ValueError, match='dilations must be at least 2 pos'):
        ResNet(depth=18, num_stages=2, dilations=(1, 0))
    with pytest.raises(ValueError, match='num_stages must be 1..4'):
        ResNet(depth=18, num_stages=5)
    with pytest.raises(ValueError, match='style must be'):
        ResNet(depth=18, style='tf')
    with pytest.raises(ValueError, match='expansion must be 1'):
        ResNet(depth=18, expansion=2)


def test_zero_init_residual_and_drop_path():
    model = ResNet(depth=18, drop_path_rate=0.2)
    model.init_weights()
    assert all(not block.norm2.weight.any() and not block.norm2.bias.any()
               for stage in model.stage_modules() for block in stage)
    rates = [b.drop_path.drop_prob for s in model.stage_modules() for b in s
             if b.drop_path is not None]
    assert rates == sorted(rates) and rates[-1] == pytest.approx(0.2)
    # Without zero init the residual branches start non-zero.
    model = ResNet(depth=18, zero_init_residual=False)
    model.init_weights()
    assert model.layer1[0].norm2.weight.any()


def test_converter_rejects_other_architecture():
    ref = torchvision.models.resnet18()
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'torchvision', ResNet(34))
    # torchvision has no deep-stem ResNet.
    with pytest.raises(ValueError, match="no converter from 'torchvision'"):
        convert_state_dict(ref.state_dict(), 'torchvision', ResNetV1c(18))
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'timm', ResNetV1d(18))
