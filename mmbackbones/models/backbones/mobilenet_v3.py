"""MobileNetV3 (Howard et al., "Searching for MobileNetV3", ICCV 2019).

Tables 1 (Large) and 2 (Small) over the shared
:class:`~mmbackbones.models.layers.InvertedResidual` with an optional
squeeze-and-excitation (Sec. 5.3: squeeze to 1/4 of the expansion
channels, hard-sigmoid gate). Arguments, arch names, the ``out_indices``
numbering and the module names follow mmpretrain's ``MobileNetV3``, so its
checkpoints load as they are; ``mmbackbones.converters`` maps torchvision's
and timm's names.
"""
from dataclasses import dataclass, replace
from typing import Dict, Optional, Sequence, Tuple, Union

import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import BaseBackbone
from ..layers import (InvertedResidual, conv_norm_act, make_divisible,
                      mmpretrain_se_layer)

__all__ = ['MobileNetV3', 'MOBILENET_V3_ARCHS']

ACTIVATIONS = ('ReLU', 'HSwish')


@dataclass(frozen=True)
class MobileNetV3Block:
    """One ``bneck`` row of paper Table 1 / 2 (mmpretrain's row order:
    kernel, mid, out, SE, activation, stride)."""
    kernel_size: int
    mid_channels: int  # "exp size"
    out_channels: int  # "#out"
    with_se: bool  # "SE"
    act: str  # "NL": 'ReLU' (RE) or 'HSwish' (HS)
    stride: int  # "s"


def _table(rows) -> Tuple[MobileNetV3Block, ...]:
    return tuple(MobileNetV3Block(*row) for row in rows)


# Legend: (kernel, exp size, #out, SE, NL, stride).
#: Paper Table 1, MobileNetV3-Large (width 1.0).
_LARGE = _table([
    (3, 16, 16, False, 'ReLU', 1),
    (3, 64, 24, False, 'ReLU', 2),
    (3, 72, 24, False, 'ReLU', 1),
    (5, 72, 40, True, 'ReLU', 2),
    (5, 120, 40, True, 'ReLU', 1),
    (5, 120, 40, True, 'ReLU', 1),
    (3, 240, 80, False, 'HSwish', 2),
    (3, 200, 80, False, 'HSwish', 1),
    (3, 184, 80, False, 'HSwish', 1),
    (3, 184, 80, False, 'HSwish', 1),
    (3, 480, 112, True, 'HSwish', 1),
    (3, 672, 112, True, 'HSwish', 1),
    (5, 672, 160, True, 'HSwish', 2),
    (5, 960, 160, True, 'HSwish', 1),
    (5, 960, 160, True, 'HSwish', 1),
])
#: Paper Table 2, MobileNetV3-Small (width 1.0).
_SMALL = _table([
    (3, 16, 16, True, 'ReLU', 2),
    (3, 72, 24, False, 'ReLU', 2),
    (3, 88, 24, False, 'ReLU', 1),
    (5, 96, 40, True, 'HSwish', 2),
    (5, 240, 40, True, 'HSwish', 1),
    (5, 240, 40, True, 'HSwish', 1),
    (5, 120, 48, True, 'HSwish', 1),
    (5, 144, 48, True, 'HSwish', 1),
    (5, 288, 96, True, 'HSwish', 2),
    (5, 576, 96, True, 'HSwish', 1),
    (5, 576, 96, True, 'HSwish', 1),
])
STEM_CHANNELS = 16  # Tables 1/2, first conv2d (not widened, as in timm)


def widen(blocks: Sequence[MobileNetV3Block],
          multiplier: float) -> Tuple[MobileNetV3Block, ...]:
    """The table at another width multiplier (paper Sec. 6.1.2, Table 3).

    As timm builds ``mobilenetv3_*_075/050`` (and mmpretrain's
    ``small_075``/``small_050`` tables, which are these numbers): the
    outputs are ``make_divisible(out * multiplier, 8)`` and each block keeps
    its expansion *ratio* (exp size / input channels of the width-1.0
    table) applied to its widened input, rounded the same way.
    """
    rows, in_1x, in_wide = [], STEM_CHANNELS, STEM_CHANNELS
    for block in blocks:
        out = make_divisible(block.out_channels * multiplier, 8)
        mid = make_divisible(in_wide * block.mid_channels / in_1x, 8)
        rows.append(replace(block, mid_channels=mid, out_channels=out))
        in_1x, in_wide = block.out_channels, out
    return tuple(rows)


#: Preset name -> blocks. ``large`` / ``small`` are Tables 1 / 2;
#: ``*_075`` / ``*_050`` the width multipliers 0.75 / 0.5 of Table 3
#: (``small_075`` and ``small_050`` are mmpretrain's names; ``large_075``
#: is ours, in the same spelling).
MOBILENET_V3_ARCHS: Dict[str, Tuple[MobileNetV3Block, ...]] = {
    'small': _SMALL,
    'small_075': widen(_SMALL, 0.75),
    'small_050': widen(_SMALL, 0.5),
    'large': _LARGE,
    'large_075': widen(_LARGE, 0.75),
}


def _parse_arch(arch) -> Tuple[MobileNetV3Block, ...]:
    """A preset name, or a custom list of rows (``MobileNetV3Block`` or
    mmpretrain's ``[kernel, mid, out, with_se, act, stride]`` lists)."""
    if isinstance(arch, str):
        if arch not in MOBILENET_V3_ARCHS:
            raise ValueError(f'arch must be one of {list(MOBILENET_V3_ARCHS)}'
                             f' or a list of block rows, but got {arch!r}')
        return MOBILENET_V3_ARCHS[arch]
    if not isinstance(arch, (list, tuple)) or not arch:
        raise TypeError('arch must be a preset name '
                        f'{list(MOBILENET_V3_ARCHS)} or a non-empty list of '
                        '[kernel, mid, out, with_se, act, stride] rows, but '
                        f'got {arch!r}')
    blocks = []
    for i, row in enumerate(arch):
        if not isinstance(row, MobileNetV3Block):
            if not isinstance(row, (list, tuple)) or len(row) != 6:
                raise ValueError(
                    f'arch row {i} must be [kernel, mid, out, with_se, act, '
                    f'stride], but got {row!r}')
            row = MobileNetV3Block(*row)
        if row.act not in ACTIVATIONS:
            raise ValueError(f'arch row {i}: act must be one of '
                             f'{ACTIVATIONS}, but got {row.act!r}')
        if row.stride not in (1, 2):
            raise ValueError(f'arch row {i}: stride must be 1 or 2, but got '
                             f'{row.stride!r}')
        if not (row.kernel_size > 0 and row.kernel_size % 2 == 1):
            raise ValueError(f'arch row {i}: kernel size must be a positive '
                             f'odd int, but got {row.kernel_size!r}')
        if min(row.mid_channels, row.out_channels) < 1:
            raise ValueError(f'arch row {i}: channels must be positive, but '
                             f'got {row!r}')
        blocks.append(row)
    return tuple(blocks)


#: mmpretrain's default initialisation of MobileNetV3.
MOBILENET_V3_INIT_CFG = [
    dict(type='Kaiming', layer=['Conv2d'], nonlinearity='leaky_relu'),
    dict(type='Normal', layer=['Linear'], std=0.01),
    dict(type='Constant', layer=['BatchNorm2d'], val=1),
]


@MODELS.register_module()
class MobileNetV3(BaseBackbone):
    """MobileNetV3 backbone.

    Stages (``out_indices``), as in mmpretrain: 0 is the stem convolution
    ``layer0`` (stride 2), ``1..N`` the ``bneck`` blocks ``layer1..layerN``
    of the table, and ``N + 1`` the final 1x1 convolution (960 channels for
    Large, 576 for Small; stride 32), returned by default (index 16 for
    Large, 12 for Small). ``frozen_stages``: ``i`` freezes ``layer0`` (the
    stem) to ``layer{i}``, as in mmpretrain.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        arch (str | list): A preset of :data:`MOBILENET_V3_ARCHS` ('small',
            'small_075', 'small_050', 'large', 'large_075'), or a list of
            ``[kernel, mid, out, with_se, act, stride]`` rows.
            Default: 'small'.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config. Default: BN with eps 0.001 and
            momentum 0.01 (TensorFlow's 0.99 decay).

    Example:
        >>> import torch
        >>> model = MobileNetV3(arch='small', out_indices=(1, 3, 8, 12))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 16, 16, 16), (1, 24, 8, 8), (1, 48, 4, 4), (1, 576, 2, 2)]
    """

    default_init_cfg = MOBILENET_V3_INIT_CFG

    def __init__(self,
                 arch: Union[str, Sequence] = 'small',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', eps=0.001, momentum=0.01),
                 out_indices: Optional[Union[int, Sequence[int]]] = None,
                 **kwargs):
        super().__init__(
            out_indices=-1 if out_indices is None else out_indices, **kwargs)
        blocks = _parse_arch(arch)
        self.arch = arch
        self.blocks = blocks
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)

        # layer0: 3x3 stride-2 conv + BN + h-swish (the stem).
        self.layer0 = conv_norm_act(self.in_channels, STEM_CHANNELS, 3,
                                    stride=2, act_cfg=dict(type='HSwish'),
                                    **common)
        channels, strides, stride = [STEM_CHANNELS], [2], 2
        in_ch = STEM_CHANNELS
        for i, block in enumerate(blocks):
            self.add_module(f'layer{i + 1}',
                            self._make_block(block, in_ch, common))
            in_ch = block.out_channels
            stride *= block.stride
            channels.append(in_ch)
            strides.append(stride)
        # The last conv before pooling: 1x1 to the last block's exp size.
        last = blocks[-1].mid_channels
        self.add_module(f'layer{len(blocks) + 1}',
                        conv_norm_act(in_ch, last, 1,
                                      act_cfg=dict(type='HSwish'), **common))
        channels.append(last)
        strides.append(stride)
        self.feat_dim = last  # mmpretrain's attribute
        # mmpretrain counts the stem as output 0 (layer0): frozen_stages=k
        # freezes layer0..layer{k}, the base's "stem and k stages".
        self.declare_stages(
            stem=['layer0'],
            stages=[[f'layer{i}'] for i in range(1, len(blocks) + 2)],
            channels=channels, strides=strides, stem_is_output=True)

    @staticmethod
    def _make_block(block: MobileNetV3Block, in_channels: int,
                    common: dict) -> InvertedResidual:
        se = None
        if block.with_se:
            # Squeeze to exp/4 rounded to a multiple of 8 (torchvision,
            # mmpretrain: make_divisible(channels // 4, 8)).
            se = mmpretrain_se_layer(
                block.mid_channels,
                make_divisible(block.mid_channels // 4, 8),
                gate=nn.Hardsigmoid())
        return InvertedResidual(in_channels, block.out_channels,
                                block.mid_channels, block.kernel_size,
                                block.stride, se=se,
                                act_cfg=dict(type=block.act), **common)
