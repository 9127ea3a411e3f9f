"""Squeeze-and-excitation (Hu et al., SENet, Fig. 2)."""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer

from .utils import make_divisible


class SELayer(nn.Module):
    """Channel attention: global pool -> 1x1 reduce -> act -> 1x1 -> gate.

    Args:
        channels (int): Input (and output) channels.
        ratio (int): Reduction ratio of the squeeze; ignored when
            ``squeeze_channels`` is given.
        squeeze_channels (int, optional): Hidden channels, explicitly.
        divisor (int): Round the hidden channels to a multiple of this
            (1 keeps ``channels // ratio``).
        act_cfg (dict): Activation after the squeeze.
        gate_cfg (dict): Gate activation (Sigmoid; MobileNetV3 uses
            HSigmoid).

    Keys: ``conv1`` (squeeze) and ``conv2`` (excite), both with bias.

    Example:
        >>> se = SELayer(64, ratio=16)
        >>> se(torch.rand(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
    """

    def __init__(self,
                 channels: int,
                 ratio: int = 16,
                 squeeze_channels: Optional[int] = None,
                 divisor: int = 1,
                 act_cfg: dict = dict(type='ReLU'),
                 gate_cfg: dict = dict(type='Sigmoid')):
        super().__init__()
        if squeeze_channels is None:
            squeeze_channels = channels // ratio
            if divisor > 1:
                squeeze_channels = make_divisible(channels / ratio, divisor)
        if squeeze_channels < 1:
            raise ValueError(f'SELayer: channels={channels} with ratio='
                             f'{ratio} leaves no squeeze channels')
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.act = build_activation_layer(act_cfg)
        self.conv2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = build_activation_layer(gate_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.conv2(self.act(self.conv1(self.pool(x)))))
        return x * scale
