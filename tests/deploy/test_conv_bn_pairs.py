"""The Conv -> BN pair finder: its structural fast path, and each kind of
pair it must refuse, with the fast path and with the data-flow trace.

(tests/deploy/test_deploy_fusion.py has the pairs that fold and more
refusals, through the default path.)"""
import copy

import pytest
import torch
import torch.nn as nn
from backbone_checks import randomize_bn
from deploy_helpers import single_thread
from mmcv.cnn import ConvModule

from mmbackbones.deploy import (convert_to_deploy, find_conv_bn_pairs,
                                relative_error, reparameterize)
from mmbackbones.deploy import fuse as fuse_module
from mmbackbones.deploy.families import default_variants
from mmbackbones.deploy.fuse import structural_pairs
from mmbackbones.registry import MODELS

one_thread = pytest.fixture(autouse=True)(single_thread)


def conv(cin=4, cout=4, **kwargs):
    return nn.Conv2d(cin, cout, 3, padding=1, bias=False, **kwargs)


def conv_bn_seq():
    return nn.Sequential(conv(), nn.BatchNorm2d(4))


class SeqConvAlsoCalledAlone(nn.Module):
    """The Sequential's conv is also called by the parent: its output
    feeds a sum, so folding the BN into it would change that sum."""

    def __init__(self):
        super().__init__()
        self.seq = conv_bn_seq()

    def forward(self, x):
        return self.seq(x) + self.seq[0](x)


class SeqBNAlsoCalledAlone(nn.Module):
    """The BN also normalises another tensor (the input): not only the
    conv's output, so it cannot disappear into the conv."""

    def __init__(self):
        super().__init__()
        self.seq = conv_bn_seq()

    def forward(self, x):
        return self.seq(x) + self.seq[1](x)


class ConvModuleWithoutNorm(nn.Module):
    """A ConvModule called with ``norm=False`` (mmcv's switch): its BN
    never sees the conv output."""

    def __init__(self):
        super().__init__()
        self.block = ConvModule(4, 4, 3, padding=1, norm_cfg=dict(type='BN'))
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.block(x, norm=False))


class ConvModuleNormAfterAct(nn.Module):
    """order=('conv', 'act', 'norm'): the ReLU sits between them."""

    def __init__(self):
        super().__init__()
        self.block = ConvModule(4, 4, 3, padding=1, norm_cfg=dict(type='BN'),
                                order=('conv', 'act', 'norm'))

    def forward(self, x):
        return self.block(x)


class HookedConv(nn.Module):
    """A forward hook on the conv changes its output before the BN."""

    def __init__(self):
        super().__init__()
        self.seq = conv_bn_seq()
        self.seq[0].register_forward_hook(lambda m, args, out: out * 2)

    def forward(self, x):
        return self.seq(x)


class ReshapedChannels(nn.Module):
    """conv (8 channels) viewed as 4 channels of twice the height, then a
    4-channel BN: the BN's channels are not the conv's."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = conv(4, 8), nn.BatchNorm2d(4)

    def forward(self, x):
        out = self.conv(x)
        n, _, h, w = out.shape
        return self.bn(out.reshape(n, 4, 2 * h, w))


class SharedSequentialTwoParents(nn.Module):
    """One conv instance in two Sequentials, each with its own BN: folding
    either BN into it would change the other branch."""

    def __init__(self):
        super().__init__()
        shared = conv()
        self.a = nn.Sequential(shared, nn.BatchNorm2d(4))
        self.b = nn.Sequential(shared, nn.BatchNorm2d(4))

    def forward(self, x):
        return self.a(x) + self.b(x)


REFUSED = {
    'conv_also_called_alone': SeqConvAlsoCalledAlone,
    'bn_also_called_alone': SeqBNAlsoCalledAlone,
    'conv_module_called_without_norm': ConvModuleWithoutNorm,
    'conv_module_norm_after_act': ConvModuleNormAfterAct,
    'hook_between_conv_and_bn': HookedConv,
    'bn_channels_are_not_the_convs': ReshapedChannels,
    'conv_shared_by_two_bns': SharedSequentialTwoParents,
}


@pytest.mark.parametrize('fast_path', [True, False],
                         ids=['fast_path', 'trace'])
@pytest.mark.parametrize('case', list(REFUSED))
def test_refused_pairs(case, fast_path):
    model = randomize_bn(REFUSED[case]()).eval()
    x = torch.randn(2, 4, 8, 8)
    assert find_conv_bn_pairs(model, x, fast_path=fast_path) == []
    # And converting leaves the outputs as they were.
    deployed = copy.deepcopy(model)
    info = convert_to_deploy(deployed, x)
    assert info.fused == []
    with torch.no_grad():
        assert relative_error(deployed(x), model(x)) == 0


def test_fast_path_decides_without_the_trace(monkeypatch):
    """Where the structure covers every BN (and the call counts agree),
    the data-flow trace does not run; where it does not, it does."""
    def no_trace(*args, **kwargs):
        raise AssertionError('the data-flow trace ran')

    model = nn.Sequential(
        ConvModule(3, 4, 3, padding=1, norm_cfg=dict(type='BN')),
        conv(), nn.BatchNorm2d(4), nn.ReLU()).eval()
    assert len(structural_pairs(model)) == 2
    x = torch.randn(1, 3, 8, 8)
    traced = find_conv_bn_pairs(model, x, fast_path=False)
    monkeypatch.setattr(fuse_module, '_traced_pairs', no_trace)
    assert find_conv_bn_pairs(model, x) == traced == [('0.conv', '0.bn'),
                                                      ('1', '2')]
    # The counts disagree (conv called alone too): the trace must decide.
    with pytest.raises(AssertionError, match='trace ran'):
        find_conv_bn_pairs(SeqConvAlsoCalledAlone().eval(),
                           torch.randn(1, 4, 8, 8))


VARIANTS = {name: variant for name, variant in default_variants().items()
            if variant is not None}


def test_default_variants_are_read_once_and_returned_as_copies():
    """The configs are parsed once per process; a caller that edits what
    it got (as the tests and tools/deploy_speed.py do) changes no later
    call's answer."""
    first = default_variants()
    name, (where, cfg) = next(
        (n, v) for n, v in sorted(first.items()) if v is not None)
    cfg['type'] = 'Edited'
    first.pop(name)
    again = default_variants()
    assert again[name] == (where, {**cfg, 'type': again[name][1]['type']})
    assert again[name][1]['type'] != 'Edited'
    assert again.keys() == {**first, name: None}.keys()


@pytest.mark.parametrize('name', sorted(VARIANTS))
def test_fast_path_agrees_with_the_trace(name):
    """For every family's default variant (in deploy form, as
    convert_to_deploy runs the finder), the fast path's pairs are the
    trace's (16 of the 30 are covered by it and skip the trace)."""
    cfg = copy.deepcopy(VARIANTS[name][1])
    if cfg.get('num_classes', -1) > 0:
        cfg['num_classes'] = -1  # VGG's classifier: slow, no BN
    model = MODELS.build(cfg).eval()
    reparameterize(model)
    size = max(32, model.min_input_size)
    x = torch.randn(1, model.in_channels, size, size)
    assert find_conv_bn_pairs(model, x) == find_conv_bn_pairs(
        model, x, fast_path=False)
