import os.path as osp

import pytest
import timm
import torch
from backbone_checks import (BackboneContract, build_meta,
                             check_equivalent_outputs, count_params,
                             randomize_bn)
from conftest import REPO_ROOT
from mmcv.cnn import DepthwiseSeparableConvModule
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from timm.models.efficientnet import _gen_mobilenet_v1

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import MobileNetV1
from mmbackbones.models.backbones.mobilenet_v1 import (
    MOBILENET_V1_RESOLUTIONS, MOBILENET_V1_WIDEN_FACTORS)
from mmbackbones.registry import MODELS


def timm_mobilenet_v1(widen_factor, **kwargs):
    """timm's MobileNetV1 at any width: its registered names are only
    ``mobilenetv1_100`` and ``_125``; the generator behind them takes the
    multiplier."""
    return _gen_mobilenet_v1('mobilenetv1_100', widen_factor, **kwargs)


def config(*path):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', *path))


def small_input(batch=2, size=64):
    return torch.rand(batch, 3, size, size)


def test_params_match_timm_every_width():
    for widen_factor in MOBILENET_V1_WIDEN_FACTORS:
        ours = count_params(build_meta(MobileNetV1, widen_factor))
        with torch.device('meta'):
            ref = timm_mobilenet_v1(widen_factor, num_classes=0)
        assert ours == count_params(ref), widen_factor
    # timm's registered model, as `benchmark.py --reference` builds it.
    with torch.device('meta'):
        ref = timm.create_model('mobilenetv1_100', num_classes=0)
    assert count_params(build_meta(MobileNetV1)) == count_params(ref) \
        == 3_206_976


def test_params_match_paper_table6():
    # Table 6 counts the 1000-class classifier: 4.2, 2.6, 1.3, 0.5 M.
    paper = {1.0: 4.2, 0.75: 2.6, 0.5: 1.3, 0.25: 0.5}
    for widen_factor, millions in paper.items():
        model = build_meta(MobileNetV1, widen_factor)
        with_fc = count_params(model) + (model.stage_channels[-1] + 1) * 1000
        assert round(with_fc / 1e6, 1) == millions, widen_factor


@pytest.mark.parametrize('widen_factor', [1.0, 0.75, 0.25])
def test_timm_equivalence_every_stage(widen_factor):
    ref = randomize_bn(timm_mobilenet_v1(widen_factor)).eval()
    ours = MobileNetV1(widen_factor=widen_factor, out_indices=range(5))
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'timm', ours), strict=True)
    check_equivalent_outputs(
        ours, lambda x: ref.forward_intermediates(x, intermediates_only=True),
        small_input())


def test_timm_equivalence_relu_and_registered_125():
    # The paper's ReLU (Sec. 3.2) against timm built with it; and timm's
    # registered 1.25x model (a width the paper does not list).
    for ours, ref in (
            (MobileNetV1(widen_factor=0.5, act_cfg=dict(type='ReLU')),
             timm_mobilenet_v1(0.5, act_layer=torch.nn.ReLU)),
            (MobileNetV1(widen_factor=1.25), timm.create_model(
                'mobilenetv1_125'))):
        ref = randomize_bn(ref).eval()
        ours.load_state_dict(
            convert_state_dict(ref.state_dict(), 'timm', ours), strict=True)
        check_equivalent_outputs(ours, lambda x: (ref.forward_features(x), ),
                                 small_input(size=32))


def test_converter_rejects_head_conv_and_other_width():
    # mobilenetv1_100h has a 1x1 conv_head the paper's network lacks.
    with pytest.raises(ValueError, match='unexpected.*conv_head'):
        convert_state_dict(
            timm.create_model('mobilenetv1_100h').state_dict(), 'timm',
            MobileNetV1())
    with pytest.raises(ValueError, match='shape mismatch'):
        convert_state_dict(timm_mobilenet_v1(1.0).state_dict(), 'timm',
                           MobileNetV1(widen_factor=0.5))


def test_architecture_table():
    model = MobileNetV1(out_indices=range(5))
    # Paper Table 1: 32-channel stem conv s2, then 13 dw-separable blocks.
    assert model.conv1.conv.out_channels == 32
    assert model.conv1.conv.stride == (2, 2)
    assert model.stage_channels == (64, 128, 256, 512, 1024)
    assert model.stage_strides == (2, 4, 8, 16, 32)
    assert [len(s) for s in model.stage_modules()] == [1, 2, 2, 6, 2]
    blocks = [b for s in model.stage_modules() for b in s]
    assert all(isinstance(b, DepthwiseSeparableConvModule) for b in blocks)
    # Only the first block of stages 2-5 downsamples; the last block of the
    # network has stride 1 (Table 1's final "s2" is a typo: 7x7 -> 7x7).
    assert [b.depthwise_conv.conv.stride[0] for b in blocks] == [
        1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    first = blocks[0]
    assert first.depthwise_conv.conv.groups == 32
    assert first.depthwise_conv.conv.kernel_size == (3, 3)
    assert first.pointwise_conv.conv.kernel_size == (1, 1)
    # BN and ReLU6 after both convolutions, no conv bias (Fig. 3 right).
    for layer in (first.depthwise_conv, first.pointwise_conv):
        assert layer.conv.bias is None and layer.with_norm
        assert isinstance(layer.activate, torch.nn.ReLU6)


@pytest.mark.parametrize('widen_factor,channels', [
    (0.75, (24, 48, 96, 192, 384, 768)),
    (0.5, (16, 32, 64, 128, 256, 512)),
    (0.25, (8, 16, 32, 64, 128, 256)),
    # not a paper width: rounded to multiples of 8 as timm does
    (0.35, (16, 24, 48, 88, 176, 360)),
])
def test_width_multiplier_channels(widen_factor, channels):
    model = build_meta(MobileNetV1, widen_factor)
    assert (model.conv1.conv.out_channels, *model.stage_channels) == channels


def test_feature_info_and_smallest_input():
    model = MobileNetV1(widen_factor=0.25, out_indices=(0, 2, -1))
    assert model.feature_info == [
        dict(index=0, channels=16, stride=2),
        dict(index=2, channels=64, stride=8),
        dict(index=4, channels=256, stride=32)]
    assert MobileNetV1().out_indices == (4, )
    # Every convolution is "same"-padded: any input of at least 1x1 works
    # (min_input_size 1), down to 1x1 maps at every stage.
    assert model.min_input_size == 1
    outs = model.eval()(torch.rand(1, 3, 1, 1))
    assert [tuple(o.shape[2:]) for o in outs] == [(1, 1)] * 3
    with pytest.raises(ValueError, match='at least 1x1'):
        model(torch.rand(1, 3, 0, 8))


@pytest.mark.parametrize('widen_factor', [0, -0.5, '1.0', True, None])
def test_bad_widen_factor(widen_factor):
    with pytest.raises(ValueError, match=r'widen_factor must be a positive'
                       r'.*\[1.0, 0.75, 0.5, 0.25\]'):
        MobileNetV1(widen_factor=widen_factor)


class TestMobileNetV1Contract(BackboneContract):
    num_stages = 5

    @staticmethod
    def build(**kwargs):
        return MobileNetV1(widen_factor=0.25, **kwargs)


def test_registry_builds_with_arguments():
    model = MODELS.build(dict(type='MobileNetV1', widen_factor=0.75))
    assert isinstance(model, MobileNetV1) and model.widen_factor == 0.75
    assert model.stage_channels[-1] == 768


def test_recipe_has_no_weight_decay_on_depthwise_filters():
    # Paper Sec. 3.2: "very little or no weight decay" on depthwise filters.
    cfg = config('mobilenet_v1.py')
    model = MobileNetV1(widen_factor=0.25)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    decay = {id(p): g['weight_decay'] for g in optimizer.param_groups
             for p in g['params']}
    blocks = [b for s in model.stage_modules() for b in s]
    assert len(decay) == len(list(model.parameters()))
    assert all(decay[id(b.depthwise_conv.conv.weight)] == 0 for b in blocks)
    assert all(decay[id(b.pointwise_conv.conv.weight)] == 4e-5
               for b in blocks)
    assert decay[id(model.conv1.conv.weight)] == 4e-5


# Table 7's sizes below 224 (the recipe's), each with its test resize.
@pytest.mark.parametrize('size,resize', zip(MOBILENET_V1_RESOLUTIONS[1:],
                                            (219, 183, 146)))
def test_resolution_configs_table7(size, resize):
    # Table 7: the 1.0x network at a smaller input; test crops keep 87.5%.
    cfg = config('mobilenet_v1', f'mobilenet_v1_{size}px.py')
    assert cfg.model.backbone.widen_factor == 1.0

    def steps(loader):
        return {t['type'].__name__: t for t in loader.dataset.pipeline}

    train, test = steps(cfg.train_dataloader), steps(cfg.test_dataloader)
    assert train['RandomResizedCrop']['scale'] == size
    assert test['ResizeEdge']['scale'] == resize
    assert test['CenterCrop']['crop_size'] == size
