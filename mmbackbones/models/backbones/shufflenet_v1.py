"""ShuffleNet V1 (Zhang et al., "ShuffleNet: An Extremely Efficient
Convolutional Neural Network for Mobile Devices", CVPR 2018).

Module names follow mmpretrain's ``ShuffleNetV1``, so its checkpoints load
as they are (torchvision and timm have no ShuffleNet V1).
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer

from mmbackbones.registry import MODELS
from ..base import BaseBackbone, make_stage_strides
from ..layers import channel_shuffle, conv_norm_act, make_divisible

__all__ = [
    'ShuffleNetV1', 'ShuffleUnitV1', 'SHUFFLENET_V1_CHANNELS',
    'SHUFFLENET_V1_WIDEN_FACTORS'
]


class ShuffleUnitV1(nn.Module):
    """The ShuffleNet V1 unit (paper Fig. 2b for stride 1, 2c for stride 2).

    1x1 group conv (compress to ``out_channels // 4``) -> 3x3 depthwise ->
    channel shuffle -> 1x1 group conv (expand). Stride 1 (``combine='add'``)
    adds the input and applies ReLU; stride 2 (``combine='concat'``)
    concatenates a 3x3 average-pooled input after the ReLU, so the branch
    produces ``out_channels - in_channels`` channels.

    Keys (mmpretrain's): ``g_conv_1x1_compress``, ``depthwise_conv3x3_bn``,
    ``g_conv_1x1_expand`` (ConvModules with ``conv``/``bn``).

    Args:
        first_block (bool): The very first unit of the network: its
            compressing 1x1 conv is not grouped (its input has only 24
            channels, paper Sec. 3.3).

    Example:
        >>> unit = ShuffleUnitV1(24, 240, groups=3, combine='concat')
        >>> unit(torch.rand(1, 24, 16, 16)).shape
        torch.Size([1, 240, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 groups: int = 3,
                 first_block: bool = False,
                 combine: str = 'add',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU')):
        super().__init__()
        if combine not in ('add', 'concat'):
            raise ValueError("combine must be 'add' or 'concat', but got "
                             f'{combine!r}')
        if combine == 'add' and in_channels != out_channels:
            raise ValueError("a ShuffleUnitV1 with combine='add' keeps its "
                             f'channels: in_channels={in_channels} != '
                             f'out_channels={out_channels}')
        self.combine = combine
        self.groups = groups
        bottleneck = out_channels // 4
        branch_out = out_channels - (in_channels if combine == 'concat'
                                     else 0)
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.g_conv_1x1_compress = conv_norm_act(
            in_channels, bottleneck, 1, groups=1 if first_block else groups,
            act_cfg=act_cfg, **common)
        self.depthwise_conv3x3_bn = conv_norm_act(
            bottleneck, bottleneck, 3, stride=2 if combine == 'concat' else 1,
            groups=bottleneck, act_cfg=None, **common)
        self.g_conv_1x1_expand = conv_norm_act(
            bottleneck, branch_out, 1, groups=groups, act_cfg=None, **common)
        if combine == 'concat':
            self.avgpool = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.depthwise_conv3x3_bn(self.g_conv_1x1_compress(x))
        if self.groups > 1:
            out = channel_shuffle(out, self.groups)
        out = self.g_conv_1x1_expand(out)
        if self.combine == 'concat':
            return torch.cat((self.avgpool(x), self.act(out)), dim=1)
        return self.act(out + x)


#: Paper Table 1: output channels of Stage2..Stage4 at width 1x, keyed by
#: the number of groups g of the 1x1 convolutions.
SHUFFLENET_V1_CHANNELS: Dict[int, Tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}

#: Width multipliers of paper Tables 2 (0.25x, 0.5x, 1x) and 3/8 (1.5x, 2x).
SHUFFLENET_V1_WIDEN_FACTORS: Tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0)

#: Units per stage (Stage2, Stage3, Stage4), paper Table 1.
STAGE_BLOCKS = (4, 8, 4)


def shufflenet_v1_channels(groups: int,
                           widen_factor: float) -> Tuple[int, int, int, int]:
    """(stem, stage2, stage3, stage4) channels, rounded as mmpretrain does
    (stage widths to a multiple of 8, the stem truncated)."""
    stem = int(24 * widen_factor)
    stages = [make_divisible(c * widen_factor, 8)
              for c in SHUFFLENET_V1_CHANNELS[groups]]
    return (stem, *stages)


def _is_buildable(groups: int, widen_factor: float) -> bool:
    """Whether every grouped convolution divides its channels."""
    stem, *stages = shufflenet_v1_channels(groups, widen_factor)
    in_channels = stem
    for i, out_channels in enumerate(stages):
        bottleneck = out_channels // 4
        first_out = out_channels - in_channels
        compress_in = in_channels if i else None  # first unit not grouped
        for channels in (bottleneck, first_out, out_channels, compress_in):
            if channels is not None and channels % groups:
                return False
        in_channels = out_channels
    return True


@MODELS.register_module()
class ShuffleNetV1(BaseBackbone):
    """ShuffleNet V1 backbone.

    Stages (``out_indices``): 0-2 are Stage2-Stage4 of the paper (strides 8,
    16, 32); the default returns the last, as in mmpretrain.

    Not every (groups, widen_factor) pair divides its channels with
    mmpretrain's rounding (e.g. g=3 at 0.25x): those raise a ValueError
    listing the widths that work for the given ``groups``.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        groups (int): Groups g of the 1x1 convolutions: 1, 2, 3, 4 or 8.
        widen_factor (float): Width multiplier: 0.25, 0.5, 1.0, 1.5 or 2.0.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config. Default: BN.
        act_cfg (dict): Activation config. Default: ReLU.

    Example:
        >>> model = ShuffleNetV1(groups=3, out_indices=(0, 1, 2))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 240, 8, 8), (1, 480, 4, 4), (1, 960, 2, 2)]
    """

    def __init__(self,
                 groups: int = 3,
                 widen_factor: float = 1.0,
                 out_indices: Union[int, Sequence[int]] = (2, ),
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        self._check_arch(groups, widen_factor)
        self.groups = groups
        self.widen_factor = widen_factor
        stem, *stages = shufflenet_v1_channels(groups, widen_factor)
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        # Conv1 (3x3, stride 2) and MaxPool (stride 2): stride 4.
        self.conv1 = conv_norm_act(self.in_channels, stem, 3, stride=2,
                                   **common)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        self.layers = nn.ModuleList()
        channels = stem
        for i, (out_channels, num_units) in enumerate(
                zip(stages, STAGE_BLOCKS)):
            self.layers.append(
                self._make_stage(channels, out_channels, num_units,
                                 first_block=i == 0, **common))
            channels = out_channels

        self.declare_stages(
            stem=['conv1', 'maxpool'],
            stages=[self.blocks(f'layers.{i}')
                    for i in range(len(self.layers))],
            channels=stages, strides=make_stage_strides(4, [2, 2, 2]))

    @staticmethod
    def _check_arch(groups: int, widen_factor: float) -> None:
        if groups not in SHUFFLENET_V1_CHANNELS:
            raise ValueError(
                f'groups must be one of {list(SHUFFLENET_V1_CHANNELS)}, but '
                f'got {groups!r}')
        if widen_factor not in SHUFFLENET_V1_WIDEN_FACTORS:
            raise ValueError(
                'widen_factor must be one of '
                f'{list(SHUFFLENET_V1_WIDEN_FACTORS)}, but got '
                f'{widen_factor!r}')
        if not _is_buildable(groups, widen_factor):
            valid = [w for w in SHUFFLENET_V1_WIDEN_FACTORS
                     if _is_buildable(groups, w)]
            raise ValueError(
                f'widen_factor={widen_factor} does not work with '
                f'groups={groups}: the rounded channels are not divisible '
                f'by {groups} groups; widen_factor for groups={groups} must '
                f'be one of {valid}')

    def _make_stage(self, in_channels: int, out_channels: int,
                    num_units: int, first_block: bool,
                    **common) -> nn.Sequential:
        # The first unit downsamples and concatenates (Fig. 2c).
        units = [
            ShuffleUnitV1(in_channels if i == 0 else out_channels,
                          out_channels, groups=self.groups,
                          first_block=first_block and i == 0,
                          combine='concat' if i == 0 else 'add', **common)
            for i in range(num_units)
        ]
        return nn.Sequential(*units)
