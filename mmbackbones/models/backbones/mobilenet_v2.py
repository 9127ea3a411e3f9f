"""MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018).

A table (paper Table 2) over the shared
:class:`~mmbackbones.models.layers.InvertedResidual`. Arguments, the
``out_indices`` numbering and the module names follow mmpretrain's
``MobileNetV2``, so its checkpoints load as they are;
``mmbackbones.converters`` maps torchvision's and timm's names.
"""
from dataclasses import dataclass
from typing import List, Tuple

import torch.nn as nn

from mmbackbones.registry import MODELS
from ..layers import InvertedResidual, conv_norm_act
from .mobilenet_v1 import WidthScaledMobileNet

__all__ = ['MobileNetV2', 'MOBILENET_V2_STAGES', 'MOBILENET_V2_WIDEN_FACTORS']


@dataclass(frozen=True)
class MobileNetV2Stage:
    """One bottleneck row of paper Table 2 (operator ``bottleneck``)."""
    expand_ratio: int  # t: mid channels = round(in_channels * t)
    channels: int  # c: output channels at width 1.0
    num_blocks: int  # n: repeats (the first block has the stride)
    stride: int  # s


#: Paper Table 2, the seven ``bottleneck`` rows (``layer1``..``layer7``).
MOBILENET_V2_STAGES: Tuple[MobileNetV2Stage, ...] = (
    MobileNetV2Stage(1, 16, 1, 1),
    MobileNetV2Stage(6, 24, 2, 2),
    MobileNetV2Stage(6, 32, 3, 2),
    MobileNetV2Stage(6, 64, 4, 2),
    MobileNetV2Stage(6, 96, 3, 1),
    MobileNetV2Stage(6, 160, 3, 2),
    MobileNetV2Stage(6, 320, 1, 1),
)
STEM_CHANNELS = 32  # Table 2, first conv2d
LAST_CHANNELS = 1280  # Table 2, the conv2d 1x1 before the pooling

#: The width multipliers of the paper (Sec. 6.1, Fig. 5 / Table 6), as
#: timm's ``mobilenetv2_035/050/075/100/140``. Any positive multiplier
#: works, as in mmpretrain.
MOBILENET_V2_WIDEN_FACTORS = (0.35, 0.5, 0.75, 1.0, 1.4)


def last_channels(widen_factor: float) -> int:
    """Channels of the final 1x1 conv: 1280, widened only for multipliers
    above 1 (paper Sec. 6.1: "we apply the width multiplier to all layers
    except the very last convolutional layer" for multipliers below 1).
    mmpretrain's rule, ``int(1280 * widen_factor)``; torchvision and timm
    round that to a multiple of 8, the same for 1.4 (1792)."""
    if widen_factor > 1.0:
        return int(LAST_CHANNELS * widen_factor)
    return LAST_CHANNELS


@MODELS.register_module()
class MobileNetV2(WidthScaledMobileNet):
    """MobileNetV2 backbone: MobileNetV1's stem and width rule with
    inverted-residual layers and a final 1x1 conv.

    Stages (``out_indices``), as in mmpretrain: 0-6 are ``layer1``-``layer7``
    (the bottleneck rows of Table 2; strides 2, 4, 8, 16, 16, 32, 32) and 7
    is the final 1x1 convolution ``conv2`` (stride 32), returned by default.
    ``frozen_stages``: 0 freezes the stem ``conv1``, ``i`` also
    ``layer1``..``layer{i}``.

    Channels are ``make_divisible(c * widen_factor, 8)`` for every layer
    but the last, which has :func:`last_channels`.

    Arguments (widen_factor, the paper's :data:`MOBILENET_V2_WIDEN_FACTORS`;
    out_indices; conv_cfg, norm_cfg, act_cfg; and the base's): see
    :class:`~mmbackbones.models.backbones.mobilenet_v1.WidthScaledMobileNet`.

    Example:
        >>> import torch
        >>> model = MobileNetV2(widen_factor=0.5, out_indices=(1, 3, 7))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 16, 16, 16), (1, 32, 4, 4), (1, 1280, 2, 2)]
    """

    stages = MOBILENET_V2_STAGES
    stem_channels = STEM_CHANNELS
    widen_factors = MOBILENET_V2_WIDEN_FACTORS

    def make_stage(self, row: MobileNetV2Stage, in_channels: int,
                   out_channels: int, common: dict) -> nn.Sequential:
        blocks = []
        for i in range(row.num_blocks):
            blocks.append(
                InvertedResidual(
                    in_channels, out_channels,
                    mid_channels=int(round(in_channels * row.expand_ratio)),
                    stride=row.stride if i == 0 else 1,
                    layout='sequential', **common))
            in_channels = out_channels
        return nn.Sequential(*blocks)

    def make_head(self, in_channels: int,
                  common: dict) -> List[Tuple[str, nn.Module, int]]:
        # conv2 (the 1x1 to 1280) is the last stage: mmpretrain's layers
        # list ends with it, so out_indices=7 / frozen_stages=8 reach it.
        final = last_channels(self.widen_factor)
        return [('conv2', conv_norm_act(in_channels, final, 1, **common),
                 final)]
