"""ResNetV2, the pre-activation ResNet (He et al., "Identity Mappings in Deep
Residual Networks", ECCV 2016).

Each residual unit computes ``x + F(x)`` where ``F`` is a chain of
BN -> ReLU -> conv (paper Fig. 1b, "full pre-activation"), so the identity
path carries the signal unchanged from stage to stage; one BN -> ReLU
after the last unit closes the network (Sec. 4.1: "an extra activation").

mmpretrain has no ResNetV2; the names here follow its ResNet where the
parts match (``conv1`` stem, ``layer1``-``layer4``, ``downsample``,
``depth`` / ``strides`` / ``dilations``), and the block layers are named
as in the paper's order (``norm1``, ``conv1``, ``norm2``, ...).
``mmbackbones.converters`` maps timm's ``resnetv2_*`` keys.
"""
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import (build_activation_layer, build_conv_layer,
                      build_norm_layer)

from mmbackbones.registry import MODELS
from ..base import (BaseBackbone, as_named_arch, check_positive_ints,
                    make_stage_strides)
from ..layers.residual import ZeroInitResidualMixin

__all__ = [
    'ResNetV2', 'PreActBlock', 'PreActBasicBlock', 'PreActBottleneck',
    'RESNET_V2_ARCHS'
]


class PreActBlock(nn.Module):
    """A pre-activation residual unit: ``x + conv_n(act(norm_n(...
    conv_1(act(norm_1(x)))))``.

    The convolutions are described by ``kernel_sizes`` (a subclass sets
    the class's, with its ``expansion``: ``out_channels / mid_channels``);
    the first 3x3 convolution carries the stride, every 3x3 one the
    dilation. The
    projection shortcut (a 1x1 conv, when the stride or the width changes)
    takes the pre-activated input, as in the paper's Fig. 1b and timm, so
    that both paths see a normalised signal.

    Keys: ``norm1``, ``conv1``, ``norm2``, ``conv2`` [, ``norm3``,
    ``conv3``], ``downsample`` (a Conv2d, projection blocks only).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        mid_channels (int, optional): Channels between the convolutions;
            ``out_channels // expansion`` when None.
        kernel_sizes (Sequence[int], optional): One entry per convolution;
            the class's when None.
        stride (int): Stride of the block.
        dilation (int): Dilation of the 3x3 convolutions.
        conv_cfg, norm_cfg, act_cfg (dict): Layer configs.
    """

    expansion: int = 1
    kernel_sizes: Tuple[int, ...] = (3, 3)

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 mid_channels: Optional[int] = None,
                 kernel_sizes: Optional[Sequence[int]] = None,
                 stride: int = 1,
                 dilation: int = 1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU', inplace=True)):
        super().__init__()
        if kernel_sizes is None:
            kernel_sizes = self.kernel_sizes
        if mid_channels is None:
            mid_channels = out_channels // self.expansion
        self.num_convs = len(kernel_sizes)
        strided = list(kernel_sizes).index(3)
        channels = [in_channels] + [mid_channels] * (self.num_convs - 1) + [
            out_channels
        ]
        for i, kernel_size in enumerate(kernel_sizes):
            d = dilation if kernel_size > 1 else 1
            self.add_module(f'norm{i + 1}',
                            build_norm_layer(norm_cfg, channels[i])[1])
            self.add_module(
                f'conv{i + 1}',
                build_conv_layer(conv_cfg, channels[i], channels[i + 1],
                                 kernel_size,
                                 stride=stride if i == strided else 1,
                                 padding=d * (kernel_size - 1) // 2,
                                 dilation=d, bias=False))
        # ReLU has no state: one module serves every position.
        self.act = build_activation_layer(act_cfg)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = build_conv_layer(conv_cfg, in_channels,
                                               out_channels, 1, stride=stride,
                                               bias=False)

    def zero_init_last(self) -> None:
        """Zero the last convolution: the unit starts as the identity
        (its shortcut, where it has no projection)."""
        nn.init.zeros_(getattr(self, f'conv{self.num_convs}').weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.act(self.norm1(x))
        shortcut = x if self.downsample is None else self.downsample(preact)
        out = self.conv1(preact)
        for i in range(2, self.num_convs + 1):
            norm = getattr(self, f'norm{i}')
            out = getattr(self, f'conv{i}')(self.act(norm(out)))
        return out + shortcut


class PreActBasicBlock(PreActBlock):
    """Two 3x3 convolutions (ResNet-18/34)."""
    expansion = 1
    kernel_sizes = (3, 3)


class PreActBottleneck(PreActBlock):
    """1x1 reduce, 3x3, 1x1 expand by 4 (ResNet-50/101/152): e.g.
    ``PreActBottleneck(64, 256)`` has 64 channels between its
    convolutions."""
    expansion = 4
    kernel_sizes = (1, 3, 1)


BLOCKS = {'basic': PreActBasicBlock, 'bottleneck': PreActBottleneck}


@dataclass(frozen=True)
class ResNetV2Arch:
    """One column of the ResNet paper's Table 1 (He et al., CVPR 2016),
    which the pre-activation paper re-uses with pre-activation units."""
    block: str  # 'basic' or 'bottleneck'
    stage_blocks: Tuple[int, ...]  # units in conv2_x .. conv5_x


#: ResNet paper Table 1, keyed by depth, and the 200-layer network of the
#: pre-activation paper's ImageNet results (its Table 5).
RESNET_V2_ARCHS: Dict[int, ResNetV2Arch] = {
    18: ResNetV2Arch('basic', (2, 2, 2, 2)),
    34: ResNetV2Arch('basic', (3, 4, 6, 3)),
    50: ResNetV2Arch('bottleneck', (3, 4, 6, 3)),
    101: ResNetV2Arch('bottleneck', (3, 4, 23, 3)),
    152: ResNetV2Arch('bottleneck', (3, 8, 36, 3)),
    200: ResNetV2Arch('bottleneck', (3, 24, 36, 3)),
}


@MODELS.register_module()
class ResNetV2(ZeroInitResidualMixin, BaseBackbone):
    """Pre-activation ResNet backbone.

    Stem: 7x7 conv (stride 2, no norm: the first unit's pre-activation
    normalises it) and a 3x3 max-pool (stride 2). Stages (``out_indices``)
    0-3 are conv2_x-conv5_x (strides 4, 8, 16, 32). The outputs of stages
    0-2 are the raw residual stream; the last stage ends with the final
    BN -> ReLU (keys ``layer4.norm``), as in the paper and timm.

    Args:
        depth (int | dict): 18, 34, 50, 101, 152 or 200, or a custom dict
            with ``block`` ('basic' or 'bottleneck') and ``stage_blocks``.
        stem_channels (int): Output channels of the stem conv.
        base_channels (int): Width of the first stage (before expansion).
        strides (Sequence[int], optional): Stride of each stage's first
            unit; None: (1, 2, 2, 2).
        dilations (Sequence[int], optional): Dilation of each stage's 3x3
            convs (for dense prediction, with stride 1 in the same stages);
            None: no dilation.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config. Default: BN.
        act_cfg (dict): Activation config. Default: ReLU.
        zero_init_residual (bool): Zero the last conv of every unit at
            ``init_weights`` (each unit starts as the identity).
        out_indices (int | Sequence[int]): Stages to return (0-3).
            Default: (3, ), the last.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see
    :class:`~mmbackbones.models.base.BaseBackbone`.

    Example:
        >>> model = ResNetV2(depth=18, out_indices=(0, 1, 2, 3))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4), (1, 512, 2, 2)]
    """

    def __init__(self,
                 depth: Union[int, dict],
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 strides: Optional[Sequence[int]] = None,
                 dilations: Optional[Sequence[int]] = None,
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 zero_init_residual: bool = False,
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        arch = as_named_arch(depth, RESNET_V2_ARCHS, 'depth',
                             ['block', 'stage_blocks'])
        if isinstance(arch, dict):
            arch = ResNetV2Arch(**arch)
        if arch.block not in BLOCKS:
            raise ValueError(f'block must be one of {list(BLOCKS)}, but got '
                             f'{arch.block!r}')
        num_stages = len(arch.stage_blocks)
        self.depth = depth
        if strides is None:  # conv2_x keeps the max-pool's resolution
            strides = (1, ) + (2, ) * (num_stages - 1)
        self.strides = check_positive_ints('strides', strides,
                                           length=num_stages)
        self.dilations = check_positive_ints(
            'dilations', (1, ) * num_stages if dilations is None else
            dilations, length=num_stages)
        self.zero_init_residual = zero_init_residual
        block = BLOCKS[arch.block]
        layer_cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                         act_cfg=act_cfg)

        self._make_stem(stem_channels, conv_cfg)
        channels = stem_channels
        stage_channels = []
        for i, num_blocks in enumerate(arch.stage_blocks):
            out_channels = base_channels * 2**i * block.expansion
            layer = self._make_stage(block, channels, out_channels,
                                     num_blocks, self.strides[i],
                                     self.dilations[i], layer_cfg)
            self.add_module(f'layer{i + 1}', layer)
            stage_channels.append(out_channels)
            channels = out_channels
        # The final BN -> ReLU (paper Sec. 4.1) ends the last stage.
        self.layers[-1].add_module('norm',
                                   build_norm_layer(norm_cfg, channels)[1])
        # Not in place: under with_cp the norm and the act are checkpointed
        # one by one, and the act must not overwrite the norm's output.
        final_act = dict(act_cfg, inplace=False) if 'inplace' in act_cfg \
            else act_cfg
        self.layers[-1].add_module('act', build_activation_layer(final_act))

        self.declare_stages(
            stem=['conv1', 'maxpool'],
            stages=[self.blocks(f'layer{i + 1}') for i in range(num_stages)],
            channels=stage_channels,
            strides=make_stage_strides(4, self.strides))

    def _make_stem(self, stem_channels: int, conv_cfg: Optional[dict]):
        self.conv1 = build_conv_layer(conv_cfg, self.in_channels,
                                      stem_channels, 7, stride=2, padding=3,
                                      bias=False)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    @staticmethod
    def _make_stage(block, in_channels: int, out_channels: int,
                    num_blocks: int, stride: int, dilation: int,
                    layer_cfg: dict) -> nn.Sequential:
        """``num_blocks`` units; the first one strides and projects."""
        units = OrderedDict()
        for i in range(num_blocks):
            units[str(i)] = block(in_channels if i == 0 else out_channels,
                                  out_channels, stride=stride if i == 0 else
                                  1, dilation=dilation, **layer_cfg)
        return nn.Sequential(units)

    @property
    def layers(self) -> List[nn.Sequential]:
        return [getattr(self, f'layer{i + 1}')
                for i in range(len(self.strides))]
