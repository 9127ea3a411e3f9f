"""The deploy protocol: re-parameterisation, Conv-BN fusion found from the
data flow, and fusion + ONNX for every registered backbone family."""
import copy

import pytest
import torch
import torch.nn as nn
from backbone_checks import collapse_repeats, randomize_bn
from deploy_helpers import TINY_DETECTOR, TinyDetector, single_thread
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks.conv2d_adaptive_padding import Conv2dAdaptivePadding
from mmcv.cnn.bricks.conv_ws import ConvWS2d
from mmpretrain.models import RepVGG as MMPretrainRepVGG
from timm.layers import BatchNormAct2d
from torch.nn.modules.batchnorm import _BatchNorm

from mmbackbones.deploy import (build_deployed_model, check_onnx,
                                convert_to_deploy, export_onnx,
                                find_conv_bn_pairs, fuse_conv_bn,
                                relative_error, reparameterize, run_model)
from mmbackbones.deploy.families import default_variants
from mmbackbones.models import RepVGG
from mmbackbones.registry import MODELS

one_thread = pytest.fixture(autouse=True)(single_thread)


def convert_and_compare(model, x, **kwargs):
    """Deploy a copy of ``model`` (random BN statistics) and return it, the
    DeployInfo and the relative error against the original."""
    model = randomize_bn(model).eval()
    deployed = copy.deepcopy(model)
    info = convert_to_deploy(deployed, x, **kwargs)
    with torch.no_grad():
        error = relative_error(run_model(deployed, x), run_model(model, x))
    return deployed, info, error


def count_bn(model):
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


def conv(cin=4, cout=4, **kwargs):
    return nn.Conv2d(cin, cout, 3, padding=1, bias=False, **kwargs)


# --------------------------------------------------------------------- #
# Which pairs are found: the data-flow rule
# --------------------------------------------------------------------- #
class PostActBlock(nn.Module):
    """conv1 -> bn1 -> relu -> conv2 -> bn2, + x: both pairs fold."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = conv(), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = conv(), nn.BatchNorm2d(4)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out)) + x


class PreActBlock(nn.Module):
    """bn1 -> relu -> conv1 (pre-activation, same names as above): bn1 reads
    the input, not a conv output; conv1's output also feeds the sum."""

    def __init__(self):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(4), conv()
        self.bn2 = nn.BatchNorm2d(4)

    def forward(self, x):
        out = self.conv1(torch.relu(self.bn1(x)))
        return self.bn2(out) + out


class ConvBN(nn.Module):
    """``conv`` and ``bn``; subclasses vary how forward uses them."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = conv(), nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv(x))


class ReturnsConvOutput(ConvBN):

    def forward(self, x):
        out = self.conv(x)
        return self.bn(out), out


class OneBNTwoConvs(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv_a, self.conv_b, self.bn = conv(), conv(), nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv_a(x)) + self.bn(self.conv_b(x))


class SharedConvBN(ConvBN):
    """One conv-BN applied to two levels (a detection head): foldable."""

    def forward(self, x):
        return [self.bn(self.conv(level)) for level in (x, x[..., ::2, ::2])]


class TiedWeights(OneBNTwoConvs):
    """conv_a -> bn, but conv_a's weight is also conv_b's."""

    def __init__(self):
        super().__init__()
        self.conv_b.weight = self.conv_a.weight

    def forward(self, x):
        return self.bn(self.conv_a(x)) + self.conv_b(x)


class InPlaceBeforeBN(ConvBN):

    def forward(self, x):
        out = self.conv(x)
        out += 1  # modifies the conv output before the BN sees it
        return self.bn(out)


class SetItemBeforeBN(ConvBN):

    def forward(self, x):
        out = self.conv(x)
        out[:, 0] = 0  # item assignment returns nothing: still a write
        return self.bn(out)


PAIR_CASES = {
    'sequential': (lambda: nn.Sequential(conv(), nn.BatchNorm2d(4),
                                         nn.ReLU()), [('0', '1')]),
    'conv_module': (lambda: ConvModule(4, 4, 3, padding=1,
                                       norm_cfg=dict(type='BN')),
                    [('conv', 'bn')]),
    'named_post_act': (PostActBlock, [('conv1', 'bn1'), ('conv2', 'bn2')]),
    'pre_activation': (PreActBlock, []),
    'returned': (ReturnsConvOutput, []),
    'one_bn_two_convs': (OneBNTwoConvs, []),
    'shared_conv_bn': (SharedConvBN, [('conv', 'bn')]),
    'tied_weights': (TiedWeights, []),
    'in_place_before_bn': (InPlaceBeforeBN, []),
    'set_item_before_bn': (SetItemBeforeBN, []),
    'bn_with_activation': (lambda: nn.Sequential(
        conv(), BatchNormAct2d(4, act_layer=nn.ReLU)), []),
    'weight_standardised': (lambda: nn.Sequential(
        ConvWS2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)), []),
    'grouped_dilated_strided': (lambda: nn.Sequential(
        conv(4, 8, groups=2, stride=2, dilation=1), nn.BatchNorm2d(8)),
        [('0', '1')]),
    'conv_with_bias': (lambda: nn.Sequential(
        nn.Conv2d(4, 4, 1, bias=True), nn.BatchNorm2d(4)), [('0', '1')]),
}


@pytest.mark.parametrize('case', list(PAIR_CASES))
def test_pairs_follow_the_data_flow(case):
    make, expected = PAIR_CASES[case]
    x = torch.randn(2, 4, 8, 8)
    model = make()
    if case == 'conv_with_bias':
        nn.init.normal_(model[0].bias)
    assert find_conv_bn_pairs(randomize_bn(model), x) == expected
    deployed, info, error = convert_and_compare(model, x)
    assert info.fused == expected
    assert error <= 1e-5
    assert count_bn(deployed) == count_bn(model) - len(expected)
    for conv_name, bn_name in expected:
        assert isinstance(deployed.get_submodule(bn_name), nn.Identity)
        assert deployed.get_submodule(conv_name).bias is not None


def test_fused_structure_rebuilds_from_names():
    """build-then-fuse gives the keys of a fused state dict (what a deploy
    config does before loading the deploy checkpoint)."""
    model = PostActBlock()
    deployed, info, _ = convert_and_compare(model, torch.randn(1, 4, 8, 8))
    fresh = PostActBlock()
    fuse_conv_bn(fresh, info.fused)
    fresh.load_state_dict(deployed.state_dict(), strict=True)
    assert 'conv1.bias' in deployed.state_dict()
    assert not any(k.startswith('bn') for k in deployed.state_dict())


def test_same_padding_convs_are_folded():
    """mmcv's Conv2dAdaptivePadding (TF "SAME", EfficientNet's strided
    convs) pads then convolves: its BN folds; odd sizes pad unevenly."""
    model = nn.Sequential(
        Conv2dAdaptivePadding(3, 8, 3, stride=2, bias=False),
        nn.BatchNorm2d(8), nn.ReLU(),
        Conv2dAdaptivePadding(8, 8, 5, stride=2, groups=8, bias=False),
        nn.BatchNorm2d(8))
    x = torch.randn(2, 3, 17, 23)
    deployed, info, error = convert_and_compare(model, x)
    assert info.fused == [('0', '1'), ('3', '4')]
    assert count_bn(deployed) == 0 and error <= 1e-5


def test_efficient_conv_bn_eval_modules_are_folded():
    """mmcv's efficient_conv_bn_eval hides the BN from the trace; the
    converter switches it off, folds, and a rebuilt model (built with the
    flag on, as its config says) takes the fused state dict."""

    def build():
        return nn.Sequential(*[
            ConvModule(cin, cout, 3, padding=1, norm_cfg=dict(type='BN'),
                       efficient_conv_bn_eval=True)
            for cin, cout in ((3, 8), (8, 8))])

    x = torch.randn(2, 3, 16, 16)
    deployed, info, error = convert_and_compare(build(), x)
    assert info.fused == [('0.conv', '0.bn'), ('1.conv', '1.bn')]
    assert count_bn(deployed) == 0 and error <= 1e-5
    fresh = build().eval()
    fuse_conv_bn(fresh, info.fused)
    fresh.load_state_dict(deployed.state_dict(), strict=True)
    with torch.no_grad():
        assert relative_error(fresh(x), deployed(x)) == 0


def test_fuse_rejects_bad_pairs():
    model = PostActBlock()
    with pytest.raises(ValueError, match='not a module'):
        fuse_conv_bn(model, [('conv9', 'bn1')])
    with pytest.raises(ValueError, match='not a BatchNorm'):
        fuse_conv_bn(model, [('conv1', 'conv2')])
    model.bn1 = nn.BatchNorm2d(5)
    with pytest.raises(ValueError, match='output channels'):
        fuse_conv_bn(model, [('conv1', 'bn1')])


def test_convert_needs_inputs_to_fuse():
    with pytest.raises(ValueError, match='example inputs'):
        convert_to_deploy(PostActBlock())
    info = convert_to_deploy(PostActBlock(), fuse=False)
    assert info.fused == [] and info.reparameterized == []


# --------------------------------------------------------------------- #
# Re-parameterisation anywhere in a model
# --------------------------------------------------------------------- #
def tiny_repvgg_cfg(**kwargs):
    return dict(type='RepVGG', arch=dict(num_blocks=(1, 2, 1, 1),
                                         width_factor=(1, 1, 1, 1)),
                base_channels=8, out_indices=(1, 2, 3), **kwargs)


def test_backbone_inside_a_detector():
    """RepVGG inside a detector-shaped model: every block switched, the
    neck and the shared head fused, outputs unchanged."""
    model = TinyDetector(tiny_repvgg_cfg(), in_channels=[16, 32, 64])
    x = torch.randn(2, 3, 32, 32)
    deployed, info, error = convert_and_compare(model, x)
    assert error <= 1e-5
    assert info.reparameterized[0] == 'backbone'  # outer modules first
    assert len(info.fused) == 4  # 3 neck ConvModules + the shared head
    assert count_bn(deployed) == 0
    # no_fuse: only the re-parameterisation
    _, info, error = convert_and_compare(model, x, fuse=False)
    assert info.fused == [] and error <= 1e-5


def test_mmpretrain_blocks_follow_the_protocol():
    model = randomize_bn(MMPretrainRepVGG(dict(num_blocks=(1, 1, 1, 1),
                                               width_factor=(1, 1, 1, 1),
                                               group_layer_map=None,
                                               se_cfg=None),
                                          base_channels=8))
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    names = reparameterize(model)
    assert names[0] == '' and model.deploy  # the backbone's own switch
    with torch.no_grad():
        assert relative_error(model(x), expected) <= 1e-5


def test_reparameterize_is_idempotent():
    """A second call changes no key, no value and no output."""
    model = randomize_bn(RepVGG(tiny_repvgg_cfg()['arch'],
                                base_channels=8)).eval()
    x = torch.randn(1, 3, 32, 32)
    assert reparameterize(model)
    state = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        once = model(x)
    reparameterize(model)
    again = model.state_dict()
    assert again.keys() == state.keys()
    assert [k for k in state if not torch.equal(again[k], state[k])] == []
    with torch.no_grad():
        assert relative_error(model(x), once) == 0


def test_build_deployed_model_gives_the_deploy_structure():
    """Module by module the converted model's structure, before any weight
    is loaded; with its weights, its outputs."""
    cfg = dict(model_type=TINY_DETECTOR, backbone=tiny_repvgg_cfg(),
               in_channels=[16, 32, 64])
    model = TinyDetector(**{k: v for k, v in cfg.items() if k != 'model_type'})
    x = torch.randn(1, 3, 32, 32)
    deployed, info, _ = convert_and_compare(model, x)
    rebuilt = build_deployed_model(fused_conv_bn=dict(info.fused),
                                   **cfg).eval()
    assert [(n, type(m)) for n, m in rebuilt.named_modules()] == \
        [(n, type(m)) for n, m in deployed.named_modules()]
    assert count_bn(rebuilt) == 0 and rebuilt.backbone.deploy
    rebuilt.load_state_dict(deployed.state_dict(), strict=True)
    with torch.no_grad():
        assert relative_error(run_model(rebuilt, x),
                              run_model(deployed, x)) == 0


# --------------------------------------------------------------------- #
# Every family: fusion equivalence and ONNX export
# --------------------------------------------------------------------- #
VARIANTS = default_variants()


def family_model(name):
    variant = VARIANTS[name]
    if variant is None:
        pytest.skip(f'{name}: no config uses it and it needs arguments, so '
                    'it has no default variant')
    cfg = copy.deepcopy(variant[1])
    if cfg.get('num_classes', -1) > 0:
        # A classifier inside the backbone (VGG as mmpretrain builds it):
        # its FC layers have no BN and would dominate the export time.
        cfg['num_classes'] = -1
    model = randomize_bn(MODELS.build(cfg)).eval()
    # Fusion and export are per block: one of each run of identical blocks
    # carries every kind (ONNX export costs per module traced).
    collapse_repeats(model)
    size = max(32, model.min_input_size)
    return model, torch.randn(2, model.in_channels, size, size)


@pytest.mark.parametrize('name', list(VARIANTS))
def test_family_fusion_and_onnx(name):
    model, x = family_model(name)
    deployed = copy.deepcopy(model)
    info = convert_to_deploy(deployed, x[:1])
    if count_bn(model):
        assert info.fused or info.reparameterized
        assert count_bn(deployed) < count_bn(model)
    with torch.no_grad():
        error = relative_error(deployed(x), model(x))
    assert error <= 1e-5, f'{name}: fused model differs by {error:.2e}'
    # Export at batch 1, check at batch 2: the batch size is dynamic.
    onnx_model = export_onnx(deployed, x[:1])
    assert check_onnx(onnx_model, deployed, x, rtol=1e-4) <= 1e-4
