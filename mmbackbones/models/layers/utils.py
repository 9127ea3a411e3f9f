"""Small tensor and arithmetic helpers shared by several families."""
from typing import Optional

import torch

from .packed_conv import is_tracing


def make_divisible(value: float,
                   divisor: int = 8,
                   min_value: Optional[int] = None,
                   min_ratio: float = 0.9) -> int:
    """Round a channel count to the nearest multiple of ``divisor``.

    As in the MobileNet family: never below ``min_value`` (default
    ``divisor``) and never more than ``1 - min_ratio`` below ``value``.

    >>> make_divisible(32 * 0.75), make_divisible(10, 8)
    (24, 16)
    """
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < min_ratio * value:
        rounded += divisor
    return rounded


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups (ShuffleNet, Sec. 3.1).

    (N, g*c, H, W) -> view (N, g, c, H, W) -> transpose -> (N, c*g, H, W).
    The result is in ``x``'s memory format: a channels_last ``x`` is
    shuffled along its innermost (channel) dimension (the plain version
    returns a contiguous tensor, which the next convolution converts back).

    >>> x = torch.arange(6.).view(1, 6, 1, 1)
    >>> channel_shuffle(x, 2).flatten().tolist()
    [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    """
    # unflatten / flatten, not view(n, g, c // g, h, w): under torch.fx the
    # shape is a Proxy that can be neither unpacked nor branched on.
    if isinstance(x, torch.fx.Proxy):
        return x.unflatten(1, (groups, -1)).transpose(1, 2).flatten(1, 2)
    if x.shape[1] % groups:
        raise ValueError(f'channel_shuffle: {x.shape[1]} channels cannot be '
                         f'split into groups={groups}')
    if _is_channels_last(x):
        nhwc = x.permute(0, 2, 3, 1).unflatten(3, (groups, -1))
        return nhwc.transpose(3, 4).flatten(3, 4).permute(0, 3, 1, 2)
    return x.unflatten(1, (groups, -1)).transpose(1, 2).flatten(1, 2)


def spatial_mean(x: torch.Tensor, keepdim: bool = True) -> torch.Tensor:
    """The mean of each channel over its ``H x W`` positions: ``(N, C, 1,
    1)`` (or ``(N, C)`` without ``keepdim``), equal bit for bit to
    ``x.mean((2, 3))`` and ``nn.AdaptiveAvgPool2d(1)(x)``.

    Written as a sum then a division so that its gradient stays a
    broadcast ``(N, C, 1, 1)`` view: ``mean``'s backward writes a full
    ``(N, C, H, W)`` contiguous tensor, which autograd then adds to the
    gradient of the other use of ``x`` (an SE gate's ``x * scale``) -- in a
    channels_last model a contiguous + channels_last add, 5x slower than
    one of a single format (8x256x40x40, 2 threads). Same values, forward
    and backward.

    >>> x = torch.rand(2, 3, 4, 4)
    >>> torch.equal(spatial_mean(x), x.mean((2, 3), keepdim=True))
    True
    """
    return x.sum((2, 3), keepdim=keepdim) / (x.shape[2] * x.shape[3])


class SpatialMean(torch.nn.Module):
    """``nn.AdaptiveAvgPool2d(1)`` with :func:`spatial_mean`'s cheaper
    gradient when one is computed. Without gradients, and under tracers,
    it is ``adaptive_avg_pool2d`` itself (the same values), which FLOP
    counters count as pooling (one per element, fvcore's convention) where
    a sum would count nothing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not is_tracing(x) and torch.is_grad_enabled() and \
                x.requires_grad:
            return spatial_mean(x)
        return torch.nn.functional.adaptive_avg_pool2d(x, 1)


def _is_channels_last(x: torch.Tensor) -> bool:
    """A 4-d tensor laid out channels_last (and not also contiguous, as
    one with a single channel or pixel is)."""
    return (x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last))


def concat_shuffle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``channel_shuffle(torch.cat((a, b), dim=1), 2)`` in one copy instead
    of two: channel ``2k`` is ``a[:, k]``, ``2k + 1`` is ``b[:, k]``
    (ShuffleNet V2's concat then shuffle, Fig. 3c/d). ``a`` and ``b`` have
    the same shape. The result is in ``b``'s memory format: a channels_last
    ``b`` is interleaved along its innermost (channel) dimension, so the
    result stays channels_last, where the two-step version returned a
    contiguous tensor.

    >>> a, b = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    >>> torch.equal(concat_shuffle(a, b),
    ...             channel_shuffle(torch.cat((a, b), dim=1), 2))
    True
    """
    if not isinstance(b, torch.fx.Proxy) and _is_channels_last(b):
        if not is_tracing(b) and torch.is_grad_enabled() and (
                a.requires_grad or b.requires_grad):
            return _InterleaveChannelsLast.apply(a, b)
        return _interleave_channels_last(a, b)
    return torch.stack((a, b), dim=2).flatten(1, 2)


def _interleave_channels_last(a: torch.Tensor,
                              b: torch.Tensor) -> torch.Tensor:
    nhwc = torch.stack((a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)),
                       dim=-1).flatten(-2)
    return nhwc.permute(0, 3, 1, 2)


class _InterleaveChannelsLast(torch.autograd.Function):
    """:func:`concat_shuffle` of channels_last tensors, whose backward
    hands each input a dense channels_last gradient (the same values).

    Autograd's own backward of the stack gives ``a`` and ``b`` every other
    channel of the gradient: views with channel stride 2, on which the
    ReLU backward before them runs a strided loop, 10x slower than on a
    dense tensor (8x116x20x20, 2 threads). Here one copy splits the
    gradient into two dense halves."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _interleave_channels_last(a, b)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        # (N, 2C, H, W) -> (N, H, W, C, 2) view -> dense (2, N, H, W, C)
        halves = grad.permute(0, 2, 3, 1).unflatten(3, (-1, 2)).movedim(
            4, 0).contiguous()
        return halves[0].permute(0, 3, 1, 2), halves[1].permute(0, 3, 1, 2)
