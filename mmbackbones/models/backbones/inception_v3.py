"""Inception v3 (Szegedy et al., "Rethinking the Inception Architecture for
Computer Vision", CVPR 2016, Table 1 and Figs. 5-7, 10).

Module names follow mmpretrain's ``InceptionV3`` (which keeps torchvision's
``Conv2d_1a_3x3`` / ``Mixed_5b`` / ``AuxLogits`` / ``fc`` names; timm uses
the same), so checkpoints of all three load after dropping the parts this
backbone does not build (see ``mmbackbones.converters.inception_v3``).
"""
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import BaseBackbone, check_rate, shape_is_symbolic
from ..layers import conv_norm_act
from ..taps import TapsMixin

__all__ = ['InceptionV3', 'InceptionAux', 'INCEPTION_V3_STAGES']

#: Inception v3's BatchNorm epsilon (TensorFlow's 1e-3, kept by every port).
_NORM_CFG = dict(type='BN', eps=1e-3)

Size = Union[int, Tuple[int, int]]


def _basic_conv(in_channels: int, out_channels: int, kernel_size: Size,
                stride: int = 1, padding: Size = 0,
                conv_cfg: Optional[dict] = None) -> nn.Module:
    """Conv (no bias) - BN (eps 1e-3) - ReLU; unpadded unless told, as in
    the paper's "valid" convolutions. Keys ``conv``, ``bn``."""
    return conv_norm_act(in_channels, out_channels, kernel_size,
                         stride=stride, padding=padding, conv_cfg=conv_cfg,
                         norm_cfg=_NORM_CFG, act_cfg=dict(type='ReLU'))


class _InceptionBlock(nn.Module):
    """Shared helper: ``self.conv(name, ...)`` registers a BasicConv."""

    def __init__(self, conv_cfg: Optional[dict]):
        super().__init__()
        self._conv_cfg = conv_cfg

    def conv(self, name: str, *args, **kwargs) -> None:
        self.add_module(name,
                        _basic_conv(*args, conv_cfg=self._conv_cfg, **kwargs))


class InceptionA(_InceptionBlock):
    """35x35 block (paper Fig. 5; the 5x5 branch as torchvision/mmpretrain
    have it): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1, concatenated to
    ``224 + pool_features`` channels."""

    def __init__(self, in_channels: int, pool_features: int,
                 conv_cfg: Optional[dict] = None):
        super().__init__(conv_cfg)
        self.conv('branch1x1', in_channels, 64, 1)
        self.conv('branch5x5_1', in_channels, 48, 1)
        self.conv('branch5x5_2', 48, 64, 5, padding=2)
        self.conv('branch3x3dbl_1', in_channels, 64, 1)
        self.conv('branch3x3dbl_2', 64, 96, 3, padding=1)
        self.conv('branch3x3dbl_3', 96, 96, 3, padding=1)
        self.branch_pool_downsample = nn.AvgPool2d(3, stride=1, padding=1)
        self.conv('branch_pool', in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = self.branch_pool(self.branch_pool_downsample(x))
        return torch.cat([self.branch1x1(x), b5, b3, pool], 1)


class InceptionB(_InceptionBlock):
    """Grid reduction 35x35 -> 17x17 (paper Fig. 10): stride-2 3x3 |
    1x1-3x3-3x3/2 | max-pool, concatenated (``in_channels + 480``)."""

    def __init__(self, in_channels: int, conv_cfg: Optional[dict] = None):
        super().__init__(conv_cfg)
        self.conv('branch3x3', in_channels, 384, 3, stride=2)
        self.conv('branch3x3dbl_1', in_channels, 64, 1)
        self.conv('branch3x3dbl_2', 64, 96, 3, padding=1)
        self.conv('branch3x3dbl_3', 96, 96, 3, stride=2)
        self.branch_pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, self.branch_pool(x)], 1)


class InceptionC(_InceptionBlock):
    """17x17 block with factorised 7x7 convolutions (paper Fig. 6, n=7):
    1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avgpool-1x1; 768 channels."""

    def __init__(self, in_channels: int, channels_7x7: int,
                 conv_cfg: Optional[dict] = None):
        super().__init__(conv_cfg)
        c7 = channels_7x7
        row, col = dict(padding=(0, 3)), dict(padding=(3, 0))
        self.conv('branch1x1', in_channels, 192, 1)
        self.conv('branch7x7_1', in_channels, c7, 1)
        self.conv('branch7x7_2', c7, c7, (1, 7), **row)
        self.conv('branch7x7_3', c7, 192, (7, 1), **col)
        self.conv('branch7x7dbl_1', in_channels, c7, 1)
        self.conv('branch7x7dbl_2', c7, c7, (7, 1), **col)
        self.conv('branch7x7dbl_3', c7, c7, (1, 7), **row)
        self.conv('branch7x7dbl_4', c7, c7, (7, 1), **col)
        self.conv('branch7x7dbl_5', c7, 192, (1, 7), **row)
        self.branch_pool_downsample = nn.AvgPool2d(3, stride=1, padding=1)
        self.conv('branch_pool', in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7dbl = self.branch7x7dbl_1(x)
        for i in range(2, 6):
            b7dbl = getattr(self, f'branch7x7dbl_{i}')(b7dbl)
        pool = self.branch_pool(self.branch_pool_downsample(x))
        return torch.cat([self.branch1x1(x), b7, b7dbl, pool], 1)


class InceptionD(_InceptionBlock):
    """Grid reduction 17x17 -> 8x8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 |
    max-pool, concatenated (``in_channels + 512``)."""

    def __init__(self, in_channels: int, conv_cfg: Optional[dict] = None):
        super().__init__(conv_cfg)
        self.conv('branch3x3_1', in_channels, 192, 1)
        self.conv('branch3x3_2', 192, 320, 3, stride=2)
        self.conv('branch7x7x3_1', in_channels, 192, 1)
        self.conv('branch7x7x3_2', 192, 192, (1, 7), padding=(0, 3))
        self.conv('branch7x7x3_3', 192, 192, (7, 1), padding=(3, 0))
        self.conv('branch7x7x3_4', 192, 192, 3, stride=2)
        self.branch_pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for i in range(2, 5):
            b7 = getattr(self, f'branch7x7x3_{i}')(b7)
        return torch.cat([b3, b7, self.branch_pool(x)], 1)


class InceptionE(_InceptionBlock):
    """8x8 block with expanded filter banks (paper Fig. 7): 1x1 |
    1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | avgpool-1x1; 2048 channels."""

    def __init__(self, in_channels: int, conv_cfg: Optional[dict] = None):
        super().__init__(conv_cfg)
        row, col = dict(padding=(0, 1)), dict(padding=(1, 0))
        self.conv('branch1x1', in_channels, 320, 1)
        self.conv('branch3x3_1', in_channels, 384, 1)
        self.conv('branch3x3_2a', 384, 384, (1, 3), **row)
        self.conv('branch3x3_2b', 384, 384, (3, 1), **col)
        self.conv('branch3x3dbl_1', in_channels, 448, 1)
        self.conv('branch3x3dbl_2', 448, 384, 3, padding=1)
        self.conv('branch3x3dbl_3a', 384, 384, (1, 3), **row)
        self.conv('branch3x3dbl_3b', 384, 384, (3, 1), **col)
        self.branch_pool_downsample = nn.AvgPool2d(3, stride=1, padding=1)
        self.conv('branch_pool', in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pool = self.branch_pool(self.branch_pool_downsample(x))
        return torch.cat([
            self.branch1x1(x), self.branch3x3_2a(b3), self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(b3dbl), self.branch3x3dbl_3b(b3dbl), pool
        ], 1)


@MODELS.register_module()
class InceptionAux(nn.Module):
    """The auxiliary classifier on the 17x17 grid (paper Sec. 4, Fig. 8):
    5x5/3 avg-pool, 1x1 conv (128), 5x5 conv (768), global pool, fc.
    Keys ``conv0``, ``conv1``, ``fc`` as mmpretrain and torchvision (the
    same layout as torchvision's ``InceptionAux``).

    It needs a map of at least 17x17 (Mixed_6e of a 299 px input): the
    pool must leave 5x5 for the 5x5 conv.

    Example:
        >>> aux = InceptionAux(768, num_classes=10)
        >>> aux(torch.rand(2, 768, 17, 17)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, num_classes: int,
                 conv_cfg: Optional[dict] = None):
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.downsample = nn.AvgPool2d(kernel_size=5, stride=3)
        self.conv0 = _basic_conv(in_channels, 128, 1, conv_cfg=conv_cfg)
        self.conv1 = _basic_conv(128, 768, 5, conv_cfg=conv_cfg)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[2:]) < 17 and not torch.jit.is_tracing():
            raise ValueError(
                'InceptionAux needs a map of at least 17x17 (Mixed_6e of a '
                f'299x299 input), but got {x.shape[2]}x{x.shape[3]}')
        x = self.conv1(self.conv0(self.downsample(x)))  # N x 768 x 1 x 1
        return self.fc(torch.flatten(self.gap(x), 1))


@dataclass(frozen=True)
class MixedBlock:
    """One row of the paper's Table 1 after the stem (a ``Mixed_*`` module
    in every implementation)."""
    name: str
    block: type
    in_channels: int
    kwargs: Dict[str, int]


#: Paper Table 1: 3 x Fig. 5 (35x35), reduction, 4 x Fig. 6 (17x17),
#: reduction, 2 x Fig. 7 (8x8). One tuple per stage (strides 8, 16, 32).
INCEPTION_V3_STAGES: Tuple[Tuple[MixedBlock, ...], ...] = (
    (MixedBlock('Mixed_5b', InceptionA, 192, dict(pool_features=32)),
     MixedBlock('Mixed_5c', InceptionA, 256, dict(pool_features=64)),
     MixedBlock('Mixed_5d', InceptionA, 288, dict(pool_features=64))),
    (MixedBlock('Mixed_6a', InceptionB, 288, {}),
     MixedBlock('Mixed_6b', InceptionC, 768, dict(channels_7x7=128)),
     MixedBlock('Mixed_6c', InceptionC, 768, dict(channels_7x7=160)),
     MixedBlock('Mixed_6d', InceptionC, 768, dict(channels_7x7=160)),
     MixedBlock('Mixed_6e', InceptionC, 768, dict(channels_7x7=192))),
    (MixedBlock('Mixed_7a', InceptionD, 768, {}),
     MixedBlock('Mixed_7b', InceptionE, 1280, {}),
     MixedBlock('Mixed_7c', InceptionE, 2048, {})),
)
_FEATURE_CHANNELS = (288, 768, 2048)
_FEATURE_STRIDES = (8, 16, 32)
_AUX_STAGE = 1  # the auxiliary classifier reads the 17x17 (stage 1) output
#: Output channels of every Mixed block (the next block's input; the last
#: block's is the last stage's), for ``aux_taps``.
_ROWS = [row for stage in INCEPTION_V3_STAGES for row in stage]
_MIXED_CHANNELS: Dict[str, int] = {
    row.name: after.in_channels for row, after in zip(_ROWS, _ROWS[1:])
}
_MIXED_CHANNELS[_ROWS[-1].name] = _FEATURE_CHANNELS[-1]
#: Its 5x5/3 pool and 5x5 conv need a 17x17 map: 299x299 inputs at least.
_AUX_MIN_INPUT_SIZE = 299

#: mmpretrain's initialisation (torchvision's too): truncated normal with
#: std 0.1 for convolutions and linear layers, unit-scale BatchNorm.
INCEPTION_V3_INIT_CFG = [
    dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=0.1),
    dict(type='Constant', layer='BatchNorm2d', val=1),
]


@MODELS.register_module()
class InceptionV3(TapsMixin, BaseBackbone):
    """Inception v3 backbone.

    Stages (``out_indices``): 0 is Mixed_5b-5d (288 channels, stride 8),
    1 Mixed_6a-6e (768, stride 16), 2 Mixed_7a-7c (2048, stride 32); with
    ``num_classes > 0`` stage 3 is mmpretrain's classifier (global pool,
    dropout, ``fc``), returned by default then. The stem is Conv2d_1a_3x3
    ... maxpool2. Convolutions are unpadded as in the paper, so a 299x299
    input gives 35/17/8 maps and the smallest input is 75x75.

    Extra outputs come first, then the ``out_indices`` outputs, in train
    and eval mode alike, each with its ``feature_info`` entry (which names
    it: ``tap=...``):

    * ``aux_taps=('Mixed_6e',)``: the 17x17 map that the auxiliary
      classifier of an ``AuxClsHead`` reads (what the recipe uses: the
      classifier then lives in the head, key ``head.AuxLogits``);
    * ``aux_logits=True`` (needs ``num_classes``): the in-backbone
      auxiliary classifier ``AuxLogits`` of mmpretrain's InceptionV3, so
      that its checkpoints load as they are; its logits come first. Unlike
      mmpretrain (``(aux, x)`` in training only) it runs in eval mode too,
      so that the outputs always match ``feature_info``; it needs inputs of
      299x299 or larger. mmpretrain's ``ClsHead`` reads the last output
      only, so it still classifies the main logits.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        num_classes (int): Build mmpretrain's classifier (``fc``) with this
            many classes; -1 (default) builds none: a feature backbone.
            (mmpretrain defaults to 1000.)
        aux_logits (bool): Build the auxiliary classifier ``AuxLogits``.
        dropout (float): Dropout before ``fc``. Default 0.5.
        conv_cfg (dict, optional): Convolution config.
        aux_taps (Sequence[str]): ``Mixed_*`` blocks whose outputs are
            returned (after the aux logits, before the ``out_indices``
            outputs). Default none.

    Example:
        >>> model = InceptionV3(out_indices=(0, 1, 2))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 299, 299))]
        [(1, 288, 35, 35), (1, 768, 17, 17), (1, 2048, 8, 8)]
    """

    min_input_size = 75
    default_init_cfg = INCEPTION_V3_INIT_CFG

    def __init__(self,
                 num_classes: int = -1,
                 aux_logits: bool = False,
                 dropout: float = 0.5,
                 out_indices: Optional[Union[int, Sequence[int]]] = None,
                 conv_cfg: Optional[dict] = None,
                 aux_taps: Sequence[str] = (),
                 **kwargs):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int):
            raise TypeError(
                f'num_classes must be an int, but got {num_classes!r}')
        if not isinstance(aux_logits, bool):
            raise TypeError(
                f'aux_logits must be a bool, but got {aux_logits!r}')
        if aux_logits and num_classes <= 0:
            raise ValueError('aux_logits=True needs num_classes > 0 (the '
                             'auxiliary classifier predicts classes), but '
                             f'got num_classes={num_classes}')
        check_rate('dropout', dropout)
        if out_indices is None:
            out_indices = -1
        super().__init__(out_indices=out_indices, **kwargs)
        self.num_classes = num_classes
        self.aux_logits = aux_logits
        self._make_stem(self.in_channels, conv_cfg)
        stages = []
        for stage in INCEPTION_V3_STAGES:
            for row in stage:
                self.add_module(
                    row.name,
                    row.block(row.in_channels, conv_cfg=conv_cfg,
                              **row.kwargs))
            stages.append([row.name for row in stage])
        self.AuxLogits: Optional[nn.Module] = None
        if aux_logits:
            self.AuxLogits = InceptionAux(_FEATURE_CHANNELS[_AUX_STAGE],
                                          num_classes, conv_cfg)
            # Paper Sec. 4: on top of the last 17x17 layer (Mixed_6e).
            self.add_tap('AuxLogits', self.Mixed_6e, num_classes,
                         head=self.AuxLogits)
        self.aux_taps = self.check_tap_names(aux_taps, list(_MIXED_CHANNELS))
        for name in self.aux_taps:
            self.add_tap(name, getattr(self, name), _MIXED_CHANNELS[name])
        channels, strides = list(_FEATURE_CHANNELS), list(_FEATURE_STRIDES)
        if num_classes > 0:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.dropout = nn.Dropout(p=dropout)
            self.flatten = nn.Flatten(1)
            self.fc = nn.Linear(_FEATURE_CHANNELS[-1], num_classes)
            channels.append(num_classes)
            strides.append(strides[-1])  # logits of the whole last map
            stages.append(['avgpool', 'dropout', 'flatten', 'fc'])
        self.declare_stages(
            stem=['Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3',
                  'maxpool1', 'Conv2d_3b_1x1', 'Conv2d_4a_3x3', 'maxpool2'],
            stages=stages, channels=channels, strides=strides)

    def _make_stem(self, in_channels: int, conv_cfg: Optional[dict]) -> None:
        """Paper Table 1 up to the 35x35 grid: 299 -> 149 -> 147 -> 147 ->
        73 (pool) -> 73 -> 71 -> 35 (pool), 192 channels."""
        common = dict(conv_cfg=conv_cfg)
        self.Conv2d_1a_3x3 = _basic_conv(in_channels, 32, 3, stride=2,
                                         **common)
        self.Conv2d_2a_3x3 = _basic_conv(32, 32, 3, **common)
        self.Conv2d_2b_3x3 = _basic_conv(32, 64, 3, padding=1, **common)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = _basic_conv(64, 80, 1, **common)
        self.Conv2d_4a_3x3 = _basic_conv(80, 192, 3, **common)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        if (self.AuxLogits is not None and not shape_is_symbolic(x)
                and min(x.shape[2:]) < _AUX_MIN_INPUT_SIZE):
            raise ValueError(
                'the auxiliary classifier (aux_logits=True) needs inputs of '
                f'at least {_AUX_MIN_INPUT_SIZE}x{_AUX_MIN_INPUT_SIZE} '
                f'pixels, but x is {x.shape[2]}x{x.shape[3]}; build with '
                'aux_logits=False for smaller inputs')
