import pytest
import torch
import torchvision
from backbone_checks import (BackboneContract, check_channels_last,
                             check_equivalent, check_forward_backward,
                             count_params, randomize_bn)
from mmpretrain.models import VGG as MMPretrainVGG
from torchvision.models.vgg import cfgs as TORCHVISION_CFGS
from torchvision.models.vgg import make_layers

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import VGG
from mmbackbones.registry import MODELS

BN = dict(type='BN')
DEPTH_TO_COLUMN = {11: 'A', 13: 'B', 16: 'D', 19: 'E'}
VARIANTS = [(d, bn) for d in DEPTH_TO_COLUMN for bn in (False, True)]


def small_input(batch=2, size=32):
    return torch.rand(batch, 3, size, size)


def factory(**kwargs):
    return VGG(depth=11, norm_cfg=BN, **kwargs)


def torchvision_features(depth, bn):
    """torchvision's ``vgg{depth}[_bn]().features`` without building the
    120M-parameter classifier."""
    return make_layers(TORCHVISION_CFGS[DEPTH_TO_COLUMN[depth]],
                       batch_norm=bn)


def as_checkpoint(features):
    return {f'features.{k}': v for k, v in features.state_dict().items()}


@pytest.mark.parametrize('depth,bn', VARIANTS)
def test_params_match_torchvision(depth, bn):
    ours = VGG(depth=depth, norm_cfg=BN if bn else None)
    assert count_params(ours) == count_params(torchvision_features(depth, bn))


@pytest.mark.parametrize('depth,bn', VARIANTS)
def test_torchvision_equivalence(depth, bn):
    ref = randomize_bn(torchvision_features(depth, bn)).eval()
    ours = VGG(depth=depth, norm_cfg=BN if bn else None)
    ours.load_state_dict(
        convert_state_dict(as_checkpoint(ref), 'torchvision', ours),
        strict=True)
    check_equivalent(ours, ref, small_input(1))


def test_torchvision_classifier_equivalence():
    ref = randomize_bn(torchvision.models.vgg11_bn(num_classes=10)).eval()
    ours = VGG(depth=11, norm_cfg=BN, num_classes=10)
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours),
        strict=True)
    # 40x40 leaves a 1x1 map: both pool it adaptively to 7x7.
    check_equivalent(ours, ref, small_input(2, 40))
    # Without a classifier, ours keeps the conv part of the checkpoint.
    features_only = VGG(depth=11, norm_cfg=BN)
    features_only.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', features_only),
        strict=True)


@pytest.mark.parametrize('norm_cfg', [None, BN])
def test_mmpretrain_equivalence(norm_cfg):
    ref = randomize_bn(MMPretrainVGG(depth=11, norm_cfg=norm_cfg,
                                     out_indices=(0, 1, 2, 3, 4)))
    ref.eval()  # mmpretrain's train() returns None, so no chaining
    checkpoint = {'state_dict': {f'backbone.{k}': v
                                 for k, v in ref.state_dict().items()}}
    ours = VGG(depth=11, norm_cfg=norm_cfg, out_indices=(0, 1, 2, 3, 4))
    # mmpretrain's keys are ours: the backbone part loads as it is.
    assert set(ours.state_dict()) == set(ref.state_dict())
    ours.load_state_dict(convert_state_dict(checkpoint, 'mmpretrain', ours),
                         strict=True)
    for i in range(5):
        check_equivalent(ours, lambda x: ref(x)[i], small_input(), index=i)


def test_mmpretrain_classifier_equivalence():
    """mmpretrain's ImageNet recipe keeps the FCs in the backbone
    (``num_classes=1000``): such a checkpoint loads unchanged."""
    ref = randomize_bn(MMPretrainVGG(depth=11, norm_cfg=BN, num_classes=10))
    ref.eval()
    ours = VGG(depth=11, norm_cfg=BN, num_classes=10)
    assert ours.out_indices == (5, )  # the logits, as mmpretrain's default
    ours.load_state_dict(ref.state_dict(), strict=True)
    # mmpretrain flattens without pooling: only 224x224 inputs fit it.
    check_equivalent(ours, lambda x: ref(x)[-1], small_input(1, 224))


def test_converter_rejects_other_architecture():
    ref = torchvision_features(13, bn=True)
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(as_checkpoint(ref), 'torchvision',
                           VGG(depth=11, norm_cfg=BN))
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(as_checkpoint(ref), 'torchvision', VGG(depth=13))
    with pytest.raises(ValueError, match="no converter from 'timm'"):
        convert_state_dict(as_checkpoint(ref), 'timm', VGG(depth=13))


def test_forward_backward_and_feature_info():
    model = factory(out_indices=(0, 1, 2, 3, 4))
    check_forward_backward(model, small_input())
    assert model.feature_info == [
        dict(index=i, channels=c, stride=2**(i + 1))
        for i, c in enumerate((64, 128, 256, 512, 512))
    ]


def test_classifier_output():
    # Narrow FCs (a custom arch) keep this fast; the full-size classifier
    # is checked against torchvision and mmpretrain above.
    narrow = dict(stage_blocks=(1, 1, 2, 2, 2), fc_channels=32)
    model = VGG(depth=narrow, norm_cfg=BN, num_classes=7, out_indices=(4, 5))
    assert model.feature_info[-1] == dict(index=5, channels=7, stride=32)
    assert count_params(model) == count_params(VGG(depth=11, norm_cfg=BN)) + (
        512 * 49 * 32 + 32) + (32 * 32 + 32) + (32 * 7 + 7)
    model.train()
    feats, logits = model(small_input())
    assert feats.shape == (2, 512, 1, 1) and logits.shape == (2, 7)
    logits.sum().backward()
    assert model.classifier[0].weight.grad is not None
    # FC weights start as N(0, 0.01) (mmpretrain's init).
    model.init_weights()
    assert model.classifier[0].weight.std().item() == pytest.approx(0.01,
                                                                    rel=0.05)
    check_channels_last(
        VGG(depth=narrow, norm_cfg=BN, num_classes=7), small_input())


class TestVGGContract(BackboneContract):
    num_stages = 5
    input_size = 32
    registry_cfg = dict(type='VGG', depth=13)

    @staticmethod
    def build(**kwargs):
        return VGG(depth=11, norm_cfg=BN, **kwargs)


def test_default_out_indices():
    assert factory().out_indices == (4, )


def test_bad_arguments():
    with pytest.raises(ValueError, match=r'depth must be one of'):
        VGG(depth=12)
    with pytest.raises(ValueError, match='num_stages'):
        VGG(depth=11, num_stages=6)
    with pytest.raises(ValueError, match='dilations'):
        VGG(depth=11, dilations=(1, 1))
    with pytest.raises(ValueError, match='strides'):
        VGG(depth=11, strides=(2, 2, 2, 2, 4))
    with pytest.raises(ValueError, match='stage_blocks'):
        VGG(depth=dict(stage_channels=(8, 16)))
    model = factory()
    with pytest.raises(ValueError, match='at least 32x32'):
        model(small_input(2, 31))


def test_custom_arch_and_dense_prediction_options():
    tiny = VGG(depth=dict(stage_blocks=(1, 1, 1), stage_channels=(8, 16, 32)),
               num_stages=3, out_indices=(0, 1, 2))
    assert tiny.out_channels == (8, 16, 32) and tiny.min_input_size == 8
    assert [o.shape[-1] for o in tiny(small_input(1, 8))] == [4, 2, 1]
    # DeepLab-style: stride-1 pools in stages 4-5, dilated convs in 5.
    dense = factory(strides=(2, 2, 2, 1, 1), dilations=(1, 1, 1, 1, 2),
                    out_indices=(3, 4))
    assert dense.out_strides == (8, 8)
    assert [o.shape[-1] for o in dense(small_input(1, 64))] == [8, 8]
    no_last_pool = factory(with_last_pool=False, ceil_mode=True)
    assert no_last_pool.out_strides == (16, )
    assert no_last_pool(small_input(1, 36))[0].shape[-1] == 3  # ceil(36/16)
    assert no_last_pool.min_input_size == 1


def test_channels_last_without_bn():
    check_channels_last(VGG(depth=11, out_indices=(0, 1, 2, 3, 4)),
                        small_input())


def test_registry_builds_with_scope():
    model = MODELS.build(dict(type='mmbackbones.VGG', depth=13))
    assert isinstance(model, VGG) and model.depth == 13
    assert not any(isinstance(m, torch.nn.BatchNorm2d)
                   for m in model.modules())
