"""ResNeSt: parameters and features against timm and mmpretrain. The
shared contract runs for ResNeSt in test_resnet.py."""
import pytest
import torch
from backbone_checks import (build_meta, check_equivalent,
                             check_mmpretrain_equivalence, count_params,
                             randomize_bn, small_input)
from timm import create_model

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import ResNeSt, radix_softmax
from mmbackbones.models.layers.pooled_conv import PooledConv1x1

#: Zhang et al. Table 7: depth -> timm's model (deep stem of 64 channels for
#: ResNeSt-50, 128 for the deeper ones).
TIMM = {50: 'resnest50d', 101: 'resnest101e', 200: 'resnest200e',
        269: 'resnest269e'}


@pytest.mark.parametrize('depth', list(TIMM))
def test_params_match_timm(depth):
    ours = build_meta(ResNeSt, depth=depth)
    ref = build_meta(create_model, TIMM[depth], num_classes=0)
    assert count_params(ours) == count_params(ref)
    assert ours.stem_channels == (64 if depth == 50 else 128)


def test_timm_equivalence():
    ref = randomize_bn(create_model('resnest50d', num_classes=0)).eval()
    ours = ResNeSt(depth=50)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    check_equivalent(ours, ref.forward_features, small_input())


@pytest.mark.parametrize('kwargs', [
    dict(),
    # Four splits in two groups, the strided split attention (no avd).
    dict(radix=4, groups=2, width_per_group=32, avg_down_stride=False),
    # One split: a sigmoid gate instead of the softmax.
    dict(radix=1, stem_channels=32),
])
def test_mmpretrain_equivalence(kwargs):
    check_mmpretrain_equivalence('ResNeSt', **dict(kwargs, depth=50))


def test_radix_softmax():
    # (N, groups=2, radix=3, C'=4) in, (radix, groups, C') out; the radix
    # weights of one channel sum to 1.
    x = torch.randn(2, 24, 1, 1)
    out = radix_softmax(x, radix=3, groups=2).view(2, 3, 2, 4)
    torch.testing.assert_close(out.sum(1), torch.ones(2, 2, 4))
    expected = torch.softmax(x.view(2, 2, 3, 4), dim=2).transpose(1, 2)
    torch.testing.assert_close(out, expected)
    gate = radix_softmax(x, radix=1, groups=2)
    torch.testing.assert_close(gate, torch.sigmoid(x).view(2, -1))


@pytest.mark.parametrize('groups', [1, 4])
@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
def test_pooled_conv_equals_conv(groups, memory_format):
    conv = torch.nn.Conv2d(64, 32, 1, groups=groups)
    fast = PooledConv1x1(64, 32, groups=groups)
    fast.load_state_dict(conv.state_dict())  # the same keys and shapes
    conv, fast = (m.to(memory_format=memory_format) for m in (conv, fast))
    for size in (1, 3):  # the matrix product, then the convolution path
        x = torch.rand(2, 64, size, size).contiguous(
            memory_format=memory_format)
        grads = []
        for module in (conv, fast):
            inp = x.clone().requires_grad_(True)
            out = module(inp)
            (out * torch.arange(out.numel()).view_as(out)).sum().backward()
            grads.append((out, inp.grad, module.weight.grad, module.bias.grad))
            module.zero_grad()
        for a, b in zip(*grads):
            torch.testing.assert_close(a, b)


def test_avd_pool_takes_the_stride():
    model = ResNeSt(depth=50)
    strided, plain = model.layer2[0], model.layer1[0]
    assert strided.conv2.conv.stride == (1, 1)
    assert strided.avd_layer.stride == 2
    assert not hasattr(plain, 'avd_layer')  # stride 1: no pool


def test_bad_arguments():
    with pytest.raises(ValueError, match=r'depth must be one of \[50, 101'):
        ResNeSt(depth=18)
    with pytest.raises(ValueError, match='radix must be a positive int'):
        ResNeSt(depth=50, radix=0)
    with pytest.raises(ValueError, match='reduction_factor must be'):
        ResNeSt(depth=50, reduction_factor=-1)
