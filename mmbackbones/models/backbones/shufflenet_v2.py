"""ShuffleNet V2 (Ma et al., "ShuffleNet V2: Practical Guidelines for
Efficient CNN Architecture Design", ECCV 2018).

Module names follow mmpretrain's ``ShuffleNetV2``, so its checkpoints load
as they are; ``mmbackbones.converters`` maps torchvision's names.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import BaseBackbone, make_stage_strides
from ..layers import concat_shuffle, conv_norm_act

__all__ = ['ShuffleNetV2', 'ShuffleUnit', 'SHUFFLENET_V2_ARCHS']


class ShuffleUnit(nn.Module):
    """The ShuffleNet V2 unit (paper Fig. 3c for stride 1, 3d for stride 2).

    Stride 1: split the channels in halves; the right half goes through
    1x1 conv -> 3x3 depthwise -> 1x1 conv, then concat and shuffle.
    Stride 2: both branches see the whole input and downsample; the output
    has ``out_channels`` channels.

    Keys: ``branch1`` (stride 2 only: dw 3x3, 1x1) and ``branch2`` (1x1,
    dw 3x3, 1x1), each a Sequential of ConvModules.

    Example:
        >>> unit = ShuffleUnit(24, 116, stride=2)
        >>> unit(torch.rand(1, 24, 16, 16)).shape
        torch.Size([1, 116, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU')):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, but got {stride}')
        branch_channels = out_channels // 2
        if stride == 1 and in_channels != out_channels:
            raise ValueError('a stride-1 ShuffleUnit keeps its channels: '
                             f'in_channels={in_channels} != '
                             f'out_channels={out_channels}')
        self.stride = stride
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        if stride == 2:
            self.branch1 = nn.Sequential(
                conv_norm_act(in_channels, in_channels, 3, stride=2,
                              groups=in_channels, act_cfg=None, **common),
                conv_norm_act(in_channels, branch_channels, 1,
                              act_cfg=act_cfg, **common))
        branch2_in = in_channels if stride == 2 else branch_channels
        self.branch2 = nn.Sequential(
            conv_norm_act(branch2_in, branch_channels, 1, act_cfg=act_cfg,
                          **common),
            conv_norm_act(branch_channels, branch_channels, 3, stride=stride,
                          groups=branch_channels, act_cfg=None, **common),
            conv_norm_act(branch_channels, branch_channels, 1,
                          act_cfg=act_cfg, **common))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # concat then shuffle, in one copy
        if self.stride == 1:
            left, right = x.chunk(2, dim=1)
            return concat_shuffle(left, self.branch2(right))
        return concat_shuffle(self.branch1(x), self.branch2(x))


@dataclass(frozen=True)
class ShuffleNetV2Arch:
    """One column of the paper's Table 5."""
    stage_channels: Tuple[int, int, int]  # output channels of Stage2..4
    final_channels: int  # Conv5
    stage_blocks: Tuple[int, int, int] = (4, 8, 4)  # units per stage
    stem_channels: int = 24  # Conv1


#: Paper Table 5, keyed by the width multiplier (0.5x, 1x, 1.5x, 2x).
SHUFFLENET_V2_ARCHS: Dict[float, ShuffleNetV2Arch] = {
    0.5: ShuffleNetV2Arch((48, 96, 192), 1024),
    1.0: ShuffleNetV2Arch((116, 232, 464), 1024),
    1.5: ShuffleNetV2Arch((176, 352, 704), 1024),
    2.0: ShuffleNetV2Arch((244, 488, 976), 2048),
}


@MODELS.register_module()
class ShuffleNetV2(BaseBackbone):
    """ShuffleNet V2 backbone.

    Stages (``out_indices``): 0-2 are Stage2-Stage4 of the paper (strides 8,
    16, 32); 3 is the final 1x1 convolution Conv5 (stride 32), returned by
    default, as in mmpretrain.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        widen_factor (float): Width multiplier, one of 0.5, 1.0, 1.5, 2.0.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config. Default: BN.
        act_cfg (dict): Activation config. Default: ReLU.

    Example:
        >>> model = ShuffleNetV2(widen_factor=1.0, out_indices=(0, 1, 2, 3))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 116, 8, 8), (1, 232, 4, 4), (1, 464, 2, 2), (1, 1024, 2, 2)]
    """

    def __init__(self,
                 widen_factor: float = 1.0,
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        if widen_factor not in SHUFFLENET_V2_ARCHS:
            raise ValueError(
                f'widen_factor must be one of {list(SHUFFLENET_V2_ARCHS)}, '
                f'but got {widen_factor!r}')
        arch = SHUFFLENET_V2_ARCHS[widen_factor]
        self.widen_factor = widen_factor
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)

        # Conv1 (3x3, stride 2) and MaxPool (stride 2): stride 4.
        self.conv1 = conv_norm_act(self.in_channels, arch.stem_channels, 3,
                                   stride=2, act_cfg=act_cfg, **common)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        self.layers = nn.ModuleList()
        channels = arch.stem_channels
        for out_channels, num_units in zip(arch.stage_channels,
                                           arch.stage_blocks):
            units: List[nn.Module] = []
            for i in range(num_units):
                units.append(
                    ShuffleUnit(channels if i == 0 else out_channels,
                                out_channels, stride=2 if i == 0 else 1,
                                act_cfg=act_cfg, **common))
            self.layers.append(nn.Sequential(*units))
            channels = out_channels
        # Conv5 (1x1) counts as the fourth output, as in mmpretrain.
        self.layers.append(
            conv_norm_act(channels, arch.final_channels, 1, act_cfg=act_cfg,
                          **common))

        self.declare_stages(
            stem=['conv1', 'maxpool'],
            # The units one by one; Conv5 as one module (its in-place ReLU
            # must not be checkpointed apart from its BN).
            stages=[self.blocks(f'layers.{i}')
                    for i in range(len(self.layers) - 1)]
            + [[f'layers.{len(self.layers) - 1}']],
            channels=(*arch.stage_channels, arch.final_channels),
            strides=make_stage_strides(4, [2, 2, 2, 1]))
