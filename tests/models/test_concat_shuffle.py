"""``concat_shuffle``: ShuffleNet V2's concat-then-shuffle in one copy --
the same values and gradients as ``channel_shuffle(cat)``, and a
channels_last input stays channels_last (the two-step version returned a
contiguous tensor, so channels_last training paid a conversion a unit)."""
import pytest
import torch

from mmbackbones.models.layers import channel_shuffle, concat_shuffle

CL = torch.channels_last


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, CL])
def test_same_values_and_gradients_as_cat_then_shuffle(memory_format):
    torch.manual_seed(0)
    x = torch.rand(2, 12, 5, 7).contiguous(memory_format=memory_format)
    b = torch.rand(2, 6, 5, 7).contiguous(memory_format=memory_format)
    grad = torch.rand(2, 12, 5, 7)
    results = []
    for fn in (concat_shuffle,
               lambda a, b: channel_shuffle(torch.cat((a, b), dim=1), 2)):
        xs, bs = x.clone().requires_grad_(), b.clone().requires_grad_()
        left = xs.chunk(2, dim=1)[0]  # a view, as in the unit
        out = fn(left, bs)
        out.backward(grad)
        results.append((out, xs.grad, bs.grad))
    (out, gx, gb), (want, want_gx, want_gb) = results
    assert torch.equal(out, want)
    assert torch.equal(gx, want_gx) and torch.equal(gb, want_gb)
    assert out.is_contiguous(memory_format=memory_format)
    assert torch.equal(out[:, 1::2], b) and torch.equal(out[:, ::2], x[:, :6])


@pytest.mark.parametrize('groups', [2, 3, 8])
def test_channel_shuffle_keeps_channels_last(groups):
    torch.manual_seed(0)
    x = torch.rand(2, 24, 5, 7)
    want = x.unflatten(1, (groups, -1)).transpose(1, 2).flatten(1, 2)
    out = channel_shuffle(x.contiguous(memory_format=CL), groups)
    assert torch.equal(out, want)
    assert out.is_contiguous(memory_format=CL)
    assert channel_shuffle(x, groups).is_contiguous()


def test_channels_last_inputs_get_dense_gradients():
    # autograd's backward of the interleave hands each input every other
    # channel of the gradient (channel stride 2), on which the ReLU
    # backward before it runs a strided loop; ours hands over dense
    # channels_last halves with the same values
    torch.manual_seed(0)
    a = torch.rand(2, 6, 5, 7).contiguous(memory_format=CL).requires_grad_()
    b = torch.rand(2, 6, 5, 7).contiguous(memory_format=CL).requires_grad_()
    seen = []
    inner_a, inner_b = a * 1, b * 1  # non-leaves: their hooks see the
    for t in (inner_a, inner_b):      # gradient as the backward hands it
        t.register_hook(seen.append)
    grad = torch.rand(2, 12, 5, 7).contiguous(memory_format=CL)
    concat_shuffle(inner_a, inner_b).backward(grad)
    assert len(seen) == 2
    for g in seen:
        assert g.is_contiguous(memory_format=CL), g.stride()
    assert torch.equal(a.grad, grad[:, ::2]) and torch.equal(b.grad,
                                                             grad[:, 1::2])


def test_the_function_only_where_a_gradient_is_computed_eagerly():
    # training: the autograd function; under a tracer or function mode
    # (exporters, FLOP counters, fx, compile) the plain ops they can see
    a = torch.rand(1, 4, 3, 3).contiguous(memory_format=CL).requires_grad_()
    b = torch.rand(1, 4, 3, 3).contiguous(memory_format=CL)
    eager = concat_shuffle(a, b)
    assert 'InterleaveChannelsLast' in eager.grad_fn.name()
    seen = []

    class Log(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(func)
            return func(*args, **(kwargs or {}))

    with Log():
        traced = concat_shuffle(a, b)
    assert torch.stack in seen
    assert 'InterleaveChannelsLast' not in traced.grad_fn.name()
    assert torch.equal(traced, eager)
