"""Small tensor and arithmetic helpers shared by several families."""
from typing import Optional

import torch


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
    """
    n, channels, h, w = x.shape
    if channels % groups:
        raise ValueError(f'channel_shuffle: {channels} channels cannot be '
                         f'split into groups={groups}')
    x = x.view(n, groups, channels // groups, h, w)
    return x.transpose(1, 2).reshape(n, channels, h, w)
