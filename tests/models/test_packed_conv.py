"""PackedConv2d: the deploy form's convolution, whose CPU inference reuses
a oneDNN-packed weight -- the same values as nn.Conv2d, the plain op for
anything that traces or needs autograd, and a cache that follows the
weight."""
import copy
import io

import pytest
import torch
import torch.nn as nn

from mmbackbones.models.layers import packed_conv
from mmbackbones.models.layers.packed_conv import (PackedConv2d,
                                                   pack_convolutions)

pytestmark = pytest.mark.skipif(packed_conv._ONEDNN is None,
                                reason='this torch build has no oneDNN')

CASES = [
    dict(in_channels=8, out_channels=16, kernel_size=3, padding=1),
    dict(in_channels=8, out_channels=16, kernel_size=1, bias=False),
    dict(in_channels=16, out_channels=16, kernel_size=3, padding=1,
         groups=16, stride=2),  # depthwise
    dict(in_channels=8, out_channels=12, kernel_size=3, padding=2,
         dilation=2, groups=4),
    dict(in_channels=3, out_channels=8, kernel_size=7, stride=2, padding=3),
]


def packed_copy(conv: nn.Conv2d) -> nn.Conv2d:
    other = copy.deepcopy(conv)
    assert pack_convolutions(other) == 1
    assert type(other) is PackedConv2d
    return other


def entries(conv) -> int:
    return len(packed_conv._PACKED.get(conv, {}))


@pytest.mark.parametrize('kwargs', CASES)
@pytest.mark.parametrize('batch', [1, 3])
@pytest.mark.parametrize('channels_last', [False, True])
def test_same_values_as_conv2d(kwargs, batch, channels_last):
    torch.manual_seed(0)
    conv = nn.Conv2d(**kwargs).eval()
    packed = packed_copy(conv)
    x = torch.randn(batch, kwargs['in_channels'], 17, 15)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        conv, packed = (m.to(memory_format=torch.channels_last)
                        for m in (conv, packed))
    with torch.no_grad():
        expected = conv(x)
        got = packed(x)
        again = packed(x)
    assert entries(packed) == 1, 'the packed path was not taken'
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(got, again)
    assert packed.state_dict().keys() == conv.state_dict().keys()


def test_plain_op_for_autograd_training_autocast_and_tracers():
    conv = nn.Conv2d(4, 8, 3, padding=1)
    packed = packed_copy(conv)
    x = torch.randn(2, 4, 8, 8)
    # autograd: gradients as nn.Conv2d's
    packed(x).sum().backward()
    conv(x).sum().backward()
    torch.testing.assert_close(packed.weight.grad, conv.weight.grad)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        assert packed(x).dtype == torch.bfloat16
    # tracers see the plain convolution
    traced = torch.jit.trace(packed.eval(), x, check_trace=False)
    assert 'aten::_convolution' in str(traced.inlined_graph)
    graph = torch.fx.symbolic_trace(packed).graph
    assert any(n.target is torch.conv2d or 'conv2d' in str(n.target)
               for n in graph.nodes), graph
    assert entries(packed) == 0, 'a traced or autograd call was packed'


def test_cache_follows_the_weight():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 8, 3, padding=1).eval()
    packed = packed_copy(conv)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        packed(x)
        # new values loaded in place (the version counter moves)
        fresh = nn.Conv2d(4, 8, 3, padding=1)
        packed.load_state_dict(fresh.state_dict())
        torch.testing.assert_close(packed(x), fresh(x), rtol=1e-5,
                                   atol=1e-5)
        # an in-place update, as an optimizer step makes
        packed.weight.mul_(2)
        fresh.weight.mul_(2)
        torch.testing.assert_close(packed(x), fresh(x), rtol=1e-5,
                                   atol=1e-5)
        # another input size packs again, the first one is kept
        packed(torch.randn(2, 4, 8, 8))
        assert entries(packed) == 2
        for size in range(9, 9 + packed_conv.MAX_PACKED_PER_CONV):
            packed(torch.randn(1, 4, size, size))
        assert entries(packed) == packed_conv.MAX_PACKED_PER_CONV


def test_copies_and_pickles_without_the_cache():
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    pack_convolutions(conv)
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        expected = conv(x)
        clone = copy.deepcopy(conv)
        buffer = io.BytesIO()
        torch.save(conv.state_dict(), buffer)
        buffer.seek(0)
        state = torch.load(buffer, weights_only=True)
        assert set(state) == {'0.weight', '0.bias'}
        assert entries(clone[0]) == 0
        torch.testing.assert_close(clone(x), expected)


def test_pack_convolutions_leaves_conv_subclasses_alone():
    from mmcv.cnn.bricks.conv2d_adaptive_padding import \
        Conv2dAdaptivePadding
    model = nn.Sequential(nn.Conv2d(3, 4, 3), Conv2dAdaptivePadding(4, 4, 3),
                          nn.Conv1d(4, 4, 1))
    assert pack_convolutions(model) == 1
    assert [type(m) for m in model] == [PackedConv2d, Conv2dAdaptivePadding,
                                        nn.Conv1d]


def test_conv2d_act_refuses_an_unknown_activation():
    from mmbackbones.models.layers.packed_conv import conv2d_act
    with pytest.raises(ValueError, match="act must be None or 'relu'"):
        conv2d_act(nn.Conv2d(3, 4, 1), torch.randn(1, 3, 4, 4), 'gelu')


def test_the_deploy_form_packs_every_plain_convolution():
    from mmbackbones.deploy import build_deployed_model, convert_to_deploy
    from mmbackbones.registry import MODELS
    cfg = dict(type='mmbackbones.ResNet', depth=18)
    model = MODELS.build(cfg)
    plain = sum(type(m) is nn.Conv2d for m in model.modules())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model.eval()(x)
    info = convert_to_deploy(model, x)
    assert info.packed == plain > 0
    assert not any(type(m) is nn.Conv2d for m in model.modules())
    with torch.no_grad():
        got = model(x)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    rebuilt = build_deployed_model(cfg['type'], depth=18,
                                   fused_conv_bn=dict(info.fused))
    assert sum(type(m) is PackedConv2d for m in rebuilt.modules()) == plain
