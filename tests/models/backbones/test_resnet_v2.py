import pytest
import timm
import torch
from backbone_checks import (BackboneContract, check_channels_last,
                             check_equivalent, check_forward_backward,
                             check_with_cp, count_params, randomize_bn)

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import PreActBottleneck, ResNetV2
from mmbackbones.registry import MODELS

DEPTHS = (18, 34, 50, 101, 152)


def small_input(batch=2, size=32):
    return torch.rand(batch, 3, size, size)


def factory(**kwargs):
    return ResNetV2(depth=18, **kwargs)


def timm_resnetv2(depth):
    return timm.create_model(f'resnetv2_{depth}', num_classes=0)


@pytest.mark.parametrize('depth', DEPTHS)
def test_params_and_keys_match_timm(depth):
    ref, ours = timm_resnetv2(depth), ResNetV2(depth=depth)
    assert count_params(ours) == count_params(ref)
    # Every timm tensor finds its place (strict load).
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)


def test_resnet200_params():
    """ResNetV2-200 (no timm reference) is ResNetV2-152 with 16 more
    identity units in conv3_x."""
    ours, base = ResNetV2(depth=200), ResNetV2(depth=152)
    assert len(ours.layer2) == 24 and len(ours.layer3) == 36
    assert count_params(ours) == count_params(base) + 16 * count_params(
        base.layer2[1])


@pytest.mark.parametrize('depth', [18, 50])  # one per block type
def test_timm_equivalence(depth):
    ref = randomize_bn(timm.create_model(f'resnetv2_{depth}')).eval()
    ours = ResNetV2(depth=depth, out_indices=(0, 1, 2, 3))
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    x = small_input(1, 64)
    # The last output is timm's forward_features (final BN-ReLU included);
    # the others are the raw stage outputs.
    check_equivalent(ours, ref.forward_features, x)
    for i in range(3):
        check_equivalent(
            ours, lambda inp: ref.forward_intermediates(
                inp, indices=[i + 1], intermediates_only=True)[0], x,
            index=i)


def test_converter_rejects_other_architecture():
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(timm_resnetv2(18).state_dict(), 'timm',
                           ResNetV2(depth=34))
    with pytest.raises(ValueError, match="no converter from 'torchvision'"):
        convert_state_dict({}, 'torchvision', factory())


def test_forward_backward_and_feature_info():
    model = factory(out_indices=(0, 1, 2, 3))
    check_forward_backward(model, small_input())
    assert model.feature_info == [
        dict(index=0, channels=64, stride=4),
        dict(index=1, channels=128, stride=8),
        dict(index=2, channels=256, stride=16),
        dict(index=3, channels=512, stride=32),
    ]


def test_bottleneck_forward_backward():
    # ResNetV2-50's units on a narrow, shallow custom arch: fast, and every
    # unit kind (projection with and without stride, identity) is there.
    def narrow(**kwargs):
        return ResNetV2(depth=dict(block='bottleneck',
                                   stage_blocks=(2, 1, 1, 2)),
                        stem_channels=8, base_channels=8,
                        out_indices=(0, 1, 2, 3), **kwargs)

    model = narrow()
    check_forward_backward(model, small_input())
    assert model.out_channels == (32, 64, 128, 256)
    assert isinstance(model.layer1[0], PreActBottleneck)
    check_channels_last(narrow(), small_input())
    check_with_cp(narrow, small_input())
    assert ResNetV2(depth=50, out_indices=(0, 1, 2, 3)).out_channels == (
        256, 512, 1024, 2048)


class TestResNetV2Contract(BackboneContract):
    num_stages = 4
    input_size = 32
    registry_cfg = dict(type='ResNetV2', depth=34)

    @staticmethod
    def build(**kwargs):
        return ResNetV2(depth=18, **kwargs)


def test_default_out_indices():
    assert factory().out_indices == (3, )


def test_bad_arguments():
    with pytest.raises(ValueError, match=r'depth must be one of'):
        ResNetV2(depth=20)
    with pytest.raises(ValueError, match='block must be one of'):
        ResNetV2(depth=dict(block='dense', stage_blocks=(1, 1)))
    with pytest.raises(ValueError, match='stage_blocks'):
        ResNetV2(depth=dict(block='basic'))
    with pytest.raises(ValueError, match='strides'):
        factory(strides=(1, 2, 2))
    with pytest.raises(ValueError, match='dilations'):
        factory(dilations=(1, 1, 1, 0))


def test_custom_arch_dilation_and_zero_init():
    tiny = ResNetV2(depth=dict(block='basic', stage_blocks=(1, 2)),
                    base_channels=8, stem_channels=8, out_indices=(0, 1))
    assert tiny.out_channels == (8, 16) and tiny.out_strides == (4, 8)
    # Dense prediction: stages 3-4 keep stride 8, their 3x3s dilate.
    dense = factory(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                    out_indices=(1, 3))
    assert dense.out_strides == (8, 8)
    assert dense.layer4[1].conv2.dilation == (4, 4)
    assert [o.shape[-1] for o in dense(small_input(1, 64))] == [8, 8]
    # zero_init_residual: every unit without a projection starts as the
    # identity.
    model = factory(zero_init_residual=True)
    model.init_weights()
    x = torch.rand(2, 64, 8, 8)
    torch.testing.assert_close(model.layer1[1](x), x)


def test_registry_builds_with_scope():
    model = MODELS.build(dict(type='mmbackbones.ResNetV2', depth=34))
    assert isinstance(model, ResNetV2) and model.depth == 34
    assert model.eval() is model and not model.training


@pytest.mark.parametrize('form', ['dict', 'list'])
def test_zero_init_residual_keeps_loaded_weights(form, tmp_path):
    """A list-form init_cfg holding the Pretrained entry used to have the
    last conv of every unit zeroed after loading."""
    source = ResNetV2(depth=18)
    path = str(tmp_path / 'r18v2.pth')
    torch.save({'state_dict': source.state_dict()}, path)
    pretrained = dict(type='Pretrained', checkpoint=path)
    init_cfg = pretrained if form == 'dict' else [
        dict(type='Kaiming', layer='Conv2d'), pretrained]
    model = ResNetV2(depth=18, zero_init_residual=True, init_cfg=init_cfg)
    model.init_weights()
    loaded = model.layer1[1].conv2.weight
    assert loaded.abs().max() > 0
    assert torch.equal(loaded, source.layer1[1].conv2.weight)
