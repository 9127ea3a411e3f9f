"""MobileNetV1 (Howard et al., "MobileNets: Efficient Convolutional Neural
Networks for Mobile Vision Applications", arXiv:1704.04861, 2017).

A stem convolution and thirteen depthwise-separable blocks (paper Table 1),
grouped into the five stages between downsamplings. The width multiplier
(Sec. 3.3, Table 6) scales every layer; the resolution multiplier
(Sec. 3.4, Table 7) is only the input size, so it is a property of the
data pipeline, not of the network (see ``configs/mobilenet_v1/``).
``mmbackbones.converters`` maps timm's ``mobilenetv1_*`` weights.
"""
from abc import abstractmethod
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule

from mmbackbones.registry import MODELS
from ..base import BaseBackbone, check_positive_number, make_stage_strides
from ..layers import conv_norm_act, make_divisible

__all__ = [
    'MobileNetV1', 'WidthScaledMobileNet', 'MOBILENET_V1_STAGES',
    'MOBILENET_V1_WIDEN_FACTORS', 'MOBILENET_V1_RESOLUTIONS'
]


def depthwise_separable(in_channels: int, out_channels: int, stride: int,
                        common: dict) -> DepthwiseSeparableConvModule:
    """3x3 depthwise conv-BN-act, then 1x1 pointwise conv-BN-act (paper
    Sec. 3.1, Fig. 3 right), mmcv's module (keys ``depthwise_conv.{conv,bn}``
    and ``pointwise_conv.{conv,bn}``). No shortcut: MobileNetV1 is a plain
    stack.

    Example:
        >>> import torch
        >>> block = depthwise_separable(32, 64, 2, dict(norm_cfg=dict(
        ...     type='BN'), act_cfg=dict(type='ReLU6')))
        >>> block(torch.rand(1, 32, 16, 16)).shape
        torch.Size([1, 64, 8, 8])
    """
    # conv_cfg / norm_cfg / act_cfg apply to both convolutions; a conv
    # followed by a norm has no bias (ConvModule's bias='auto').
    return DepthwiseSeparableConvModule(in_channels, out_channels, 3,
                                        stride=stride, padding=1, **common)


@dataclass(frozen=True)
class MobileNetV1Stage:
    """The "Conv dw / Conv" row pairs of paper Table 1 at one resolution."""
    channels: int  # pointwise output channels at width 1.0
    num_blocks: int  # depthwise-separable blocks (the first has the stride)
    stride: int  # of the first block's depthwise conv


#: Paper Table 1, grouped by output stride (``layer1``..``layer5``:
#: strides 2, 4, 8, 16, 32). Table 1 prints the last "Conv dw" as s2, but
#: its input and output are both 7x7: the block has stride 1, as in the
#: authors' TF-slim code and in timm.
MOBILENET_V1_STAGES: Tuple[MobileNetV1Stage, ...] = (
    MobileNetV1Stage(64, 1, 1),  # 112x112
    MobileNetV1Stage(128, 2, 2),  # 56x56
    MobileNetV1Stage(256, 2, 2),  # 28x28
    MobileNetV1Stage(512, 6, 2),  # 14x14 (the "5x" rows plus one)
    MobileNetV1Stage(1024, 2, 2),  # 7x7
)
STEM_CHANNELS = 32  # Table 1, the first "Conv / s2" (3x3x3x32)

#: The width multipliers of paper Table 6 (Sec. 3.3: "typical settings of
#: 1, 0.75, 0.5 and 0.25"). Any positive multiplier builds (timm's
#: ``mobilenetv1_125`` is 1.25).
MOBILENET_V1_WIDEN_FACTORS = (1.0, 0.75, 0.5, 0.25)
#: The input sizes of paper Table 7 (the resolution multiplier, Sec. 3.4).
MOBILENET_V1_RESOLUTIONS = (224, 192, 160, 128)


class WidthScaledMobileNet(BaseBackbone):
    """What MobileNetV1 and V2 share (not registered): the stem ``conv1``
    (3x3 stride-2 conv-norm-act: (N, C_in, H, W) -> (N, C, H/2, W/2)), then
    ``layer1``..``layerN``, one per row of the class's :attr:`stages` table
    (built by :meth:`make_stage`), then the family's :meth:`make_head`
    layers (MobileNetV2's final 1x1 conv). Every width is
    ``make_divisible(c * widen_factor, 8)`` (timm's rounding). The outputs
    are the layers, then the head's; the stem is frozen unit 0.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        widen_factor (float): Width multiplier; the paper's are the class's
            :attr:`widen_factors`. Default: 1.0.
        out_indices (int | Sequence[int]): Default -1: the last output.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config. Default: BN.
        act_cfg (dict): Activation config. Default: ReLU6.
    """

    #: The architecture table: rows with ``channels`` (at width 1.0) and
    #: ``stride`` (of the row's first block), and what ``make_stage`` reads.
    stages: Sequence = ()
    #: Channels of the stem at width 1.0.
    stem_channels: int = 32
    #: The paper's width multipliers (named in the error for a bad one).
    widen_factors: Tuple[float, ...] = ()

    def __init__(self,
                 widen_factor: float = 1.0,
                 out_indices: Union[int, Sequence[int]] = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU6'),
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        self.widen_factor = check_positive_number(
            'widen_factor', widen_factor,
            f" (the paper's: {list(self.widen_factors)})")
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        channels = make_divisible(self.stem_channels * widen_factor, 8)
        self.conv1 = conv_norm_act(self.in_channels, channels, 3, stride=2,
                                   **common)
        stages, stage_channels, factors = [], [], []
        for i, row in enumerate(self.stages):
            out_channels = make_divisible(row.channels * widen_factor, 8)
            self.add_module(f'layer{i + 1}', self.make_stage(
                row, channels, out_channels, common))
            stages.append(self.blocks(f'layer{i + 1}'))
            stage_channels.append(out_channels)
            factors.append(row.stride)
            channels = out_channels
        for name, module, out_channels in self.make_head(channels, common):
            self.add_module(name, module)
            stages.append([name])
            stage_channels.append(out_channels)
            factors.append(1)
        self.declare_stages(stem=['conv1'], stages=stages,
                            channels=stage_channels,
                            strides=make_stage_strides(2, factors))

    @abstractmethod
    def make_stage(self, row, in_channels: int, out_channels: int,
                   common: dict) -> nn.Sequential:
        """The blocks of one table row (the first has the row's stride)."""

    def make_head(self, in_channels: int,
                  common: dict) -> List[Tuple[str, nn.Module, int]]:
        """``(name, module, out_channels)`` of each layer after the table's,
        each one more output; none by default."""
        return []


@MODELS.register_module()
class MobileNetV1(WidthScaledMobileNet):
    """MobileNetV1 backbone.

    Stages (``out_indices``): 0-4 are ``layer1``-``layer5``, the groups of
    depthwise-separable blocks between downsamplings (strides 2, 4, 8, 16,
    32; channels 64, 128, 256, 512, 1024 at width 1.0); the last is
    returned by default. ``frozen_stages``: 0 freezes the stem ``conv1``,
    ``i`` also ``layer1``..``layer{i}``.

    Channels are ``make_divisible(c * widen_factor, 8)``, timm's rounding.
    For the paper's four multipliers every product is already a multiple of
    8, so this is the paper's Table 6 network exactly; for other multipliers
    the authors' TF-slim code truncates instead (``max(int(c * w), 8)``),
    e.g. 0.35 gives the stem and the five stages 11, 22, 44, 89, 179, 358
    channels there, 16, 24, 48, 88, 176, 360 here and in timm.

    The activation defaults to ReLU6, as in the authors' released TF-slim
    models and timm's ``mobilenetv1_*`` (so their weights give the same
    features); the paper's text says ReLU (Sec. 3.2, Fig. 3): pass
    ``act_cfg=dict(type='ReLU')`` for that.

    Arguments (widen_factor, the paper's :data:`MOBILENET_V1_WIDEN_FACTORS`;
    out_indices; conv_cfg, norm_cfg, act_cfg; and the base's): see
    :class:`WidthScaledMobileNet`.

    Example:
        >>> import torch
        >>> model = MobileNetV1(widen_factor=0.25, out_indices=(1, 3, 4))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 32, 16, 16), (1, 128, 4, 4), (1, 256, 2, 2)]
    """

    stages = MOBILENET_V1_STAGES
    stem_channels = STEM_CHANNELS
    widen_factors = MOBILENET_V1_WIDEN_FACTORS

    def make_stage(self, row: MobileNetV1Stage, in_channels: int,
                   out_channels: int, common: dict) -> nn.Sequential:
        # the first block changes the channels and has the stride
        return nn.Sequential(*(
            depthwise_separable(in_channels if i == 0 else out_channels,
                                out_channels, row.stride if i == 0 else 1,
                                common) for i in range(row.num_blocks)))
