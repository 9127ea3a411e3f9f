"""``spatial_mean``: the per-channel mean over H x W that SE layers,
ResNeSt's split attention and VoVNet's eSE pool with -- bit for bit
``x.mean((2, 3))`` / ``nn.AdaptiveAvgPool2d(1)``, forward and backward,
with a gradient that stays a broadcast view (``mean``'s backward writes a
contiguous full-size tensor, which a channels_last model then adds to its
other gradient in mixed formats)."""
import pytest
import torch
import torch.nn as nn

from mmbackbones.models.layers import SELayer, SpatialMean, spatial_mean

CL = torch.channels_last


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, CL])
@pytest.mark.parametrize('keepdim', [True, False])
def test_equals_mean_and_adaptive_pool_bit_for_bit(memory_format, keepdim):
    torch.manual_seed(0)
    x = torch.randn(3, 24, 13, 9).contiguous(memory_format=memory_format)
    out = spatial_mean(x, keepdim=keepdim)
    assert torch.equal(out, x.mean((2, 3), keepdim=keepdim))
    if keepdim:
        assert torch.equal(out, nn.AdaptiveAvgPool2d(1)(x))
        assert torch.equal(SpatialMean()(x), out)


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, CL])
def test_se_gradients_equal_mean_bit_for_bit(memory_format):
    torch.manual_seed(0)
    x = torch.randn(2, 16, 7, 7).contiguous(memory_format=memory_format)
    grad = torch.randn(2, 16, 7, 7).contiguous(memory_format=memory_format)
    grads = []
    for pool in (spatial_mean, lambda t: t.mean((2, 3), keepdim=True)):
        xs = x.clone().requires_grad_()
        (xs * torch.sigmoid(pool(xs))).backward(grad)
        grads.append(xs.grad)
    assert torch.equal(grads[0], grads[1])


def test_gradient_is_a_broadcast_view():
    x = torch.randn(2, 8, 6, 6).contiguous(memory_format=CL).requires_grad_()
    inner = x * 1
    seen = []
    inner.register_hook(seen.append)
    spatial_mean(inner).sum().backward()
    (g, ) = seen
    assert g.shape == x.shape and g.stride()[2:] == (0, 0)  # not written
    assert torch.equal(x.grad, torch.full_like(x, 1 / 36))


def test_se_layer_pools_with_it():
    se = SELayer(16, ratio=4)
    assert isinstance(se.pool, SpatialMean)
    x = torch.rand(2, 16, 5, 5)
    assert torch.equal(se.pool(x), nn.AdaptiveAvgPool2d(1)(x))
    # with a gradient: the sum (a broadcast gradient); without (inference,
    # FLOP counters, tracers): adaptive_avg_pool2d itself, counted as
    # pooling as before
    seen = []

    class Log(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(func)
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), Log():
        se.pool(x)
    assert torch.nn.functional.adaptive_avg_pool2d in seen
    xs = x.clone().requires_grad_()
    assert se.pool(xs).grad_fn.name() == 'DivBackward0'
