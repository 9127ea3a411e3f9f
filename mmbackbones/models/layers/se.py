"""Squeeze-and-excitation (Hu et al., SENet, Fig. 2)."""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer

from .pooled_conv import PooledConv1x1
from .utils import SpatialMean, make_divisible


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
        # AdaptiveAvgPool2d(1)'s values; its gradient stays broadcast
        # (spatial_mean), so x's two gradients add in x's memory format
        self.pool = SpatialMean()
        self.conv1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.act = build_activation_layer(act_cfg)
        self.conv2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = build_activation_layer(gate_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.conv2(self.act(self.conv1(self.pool(x)))))
        return x * scale


class _ConvSlot(nn.Module):
    """Holds a convolution under the key ``conv``: mmpretrain's SE layer
    wraps its 1x1 convolutions in ConvModules (``conv1.conv.weight``)."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def mmpretrain_se_layer(channels: int,
                        squeeze_channels: int,
                        act_cfg: dict = dict(type='ReLU', inplace=True),
                        gate: Union[dict, nn.Module] = dict(type='Sigmoid')
                        ) -> SELayer:
    """The shared :class:`SELayer` with mmpretrain's keys -- the one SE of
    SE-ResNet(X), RepVGG-D2se and MobileNetV3.

    mmpretrain's SE layer wraps its 1x1 convolutions in ConvModules
    (``conv1.conv.weight``, ``conv2.conv.weight``), so its checkpoints load
    as they are. The convolutions run as matrix products on the pooled
    vector (:class:`PooledConv1x1`: same result, far cheaper on CPU, above
    all in channels_last).

    Args:
        channels (int): Input (and output) channels.
        squeeze_channels (int): Hidden channels.
        act_cfg (dict): Activation after the squeeze.
        gate (dict | nn.Module): The gate, as a config or a module
            (MobileNetV3: ``nn.Hardsigmoid()``, which equals mmpretrain's
            ``HSigmoid(bias=3, divisor=6)`` in one operator).

    Example:
        >>> se = mmpretrain_se_layer(16, 8, gate=nn.Hardsigmoid())
        >>> se(torch.rand(2, 16, 4, 4)).shape
        torch.Size([2, 16, 4, 4])
        >>> sorted(se.state_dict())[:2]
        ['conv1.conv.bias', 'conv1.conv.weight']
    """
    gate_cfg = gate if isinstance(gate, dict) else dict(type='Sigmoid')
    se = SELayer(channels, squeeze_channels=squeeze_channels,
                 act_cfg=act_cfg, gate_cfg=gate_cfg)
    se.conv1 = _ConvSlot(PooledConv1x1(channels, squeeze_channels))
    se.conv2 = _ConvSlot(PooledConv1x1(squeeze_channels, channels))
    if isinstance(gate, nn.Module):
        se.gate = gate
    return se
