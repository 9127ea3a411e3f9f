"""Inception v4 (Szegedy et al., "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017 / arXiv:1602.07261,
Figs. 3-9 and Table 1).

Every block of the paper is a set of branches whose outputs are
concatenated, so the network is written as tables (:class:`ConvSpec`,
:class:`BranchSpec`) read by one block class, :class:`InceptionV4Block`.
Module names are TF-slim's end points (``Conv2d_1a_3x3``, ``Mixed_3a`` ...
``Mixed_7d``, the code the paper points to and whose weights timm ports);
inside a block, ``branch{i}`` is TF-slim's ``Branch_{i}``. timm's
``inception_v4`` keys (``features.{i}``) map onto these in
``mmbackbones.converters.inception_v4``.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import BaseBackbone
from ..layers import conv_norm_act

__all__ = ['InceptionV4', 'InceptionV4Block', 'INCEPTION_V4_STAGES']

Size = Union[int, Tuple[int, int]]

#: TensorFlow's BatchNorm epsilon, kept by timm's port of the TF weights.
_NORM_CFG = dict(type='BN', eps=1e-3)


@dataclass(frozen=True)
class ConvSpec:
    """One conv-BN-ReLU of a figure.

    ``same=False`` is the paper's "V" (valid, unpadded: a 3x3 takes 2
    pixels off); ``same=True`` pads ``k // 2`` on each side (the figures'
    unmarked convolutions).
    """
    channels: int
    kernel: Size
    stride: int = 1
    same: bool = False

    @property
    def padding(self) -> Tuple[int, int]:
        if not self.same:
            return (0, 0)
        kh, kw = ((self.kernel, self.kernel) if isinstance(self.kernel, int)
                  else self.kernel)
        return (kh // 2, kw // 2)


@dataclass(frozen=True)
class BranchSpec:
    """One branch of a block: an optional pool, then ``convs`` in order,
    then optionally ``fork``: convolutions that all read the branch's last
    map and are concatenated (Fig. 6's 1x3 | 3x1 pairs).

    ``pool``: ``'max'`` is the 3x3 stride-2 valid max-pool of the stem and
    the reductions (Figs. 3, 7, 8); ``'avg'`` the 3x3 stride-1 average pool
    of Inception-A/B/C (Figs. 4-6), padded "same" with the padding left out
    of the average, as TensorFlow's SAME average pooling does (and timm's
    ``count_include_pad=False``).
    """
    convs: Tuple[ConvSpec, ...] = ()
    pool: Optional[str] = None
    fork: Tuple[ConvSpec, ...] = ()

    def out_channels(self, in_channels: int) -> int:
        if self.fork:
            return sum(c.channels for c in self.fork)
        return self.convs[-1].channels if self.convs else in_channels


def _conv(channels: int, kernel: Size, stride: int = 1) -> ConvSpec:
    return ConvSpec(channels, kernel, stride, same=False)


def _same(channels: int, kernel: Size) -> ConvSpec:
    return ConvSpec(channels, kernel, same=True)


_MAX_POOL = BranchSpec(pool='max')

# The blocks, branch by branch in concatenation order. Where the paper's
# figures and TF-slim differ in the orientation of a factorised pair (Fig. 5
# draws 1x7 then 7x1 in the 7x7 double branch, TF-slim 7x1 then 1x7; Fig. 6
# likewise for 1x3 / 3x1), the tables follow TF-slim: its weights are the
# published ones (same channels and parameter count either way).

#: Fig. 3, 147x147x64 -> 73x73x160: max-pool | 3x3/2 V (96).
MIXED_3A = (_MAX_POOL, BranchSpec((_conv(96, 3, 2), )))
#: Fig. 3, -> 71x71x192: 1x1-3x3 V | 1x1-7x1-1x7-3x3 V (TF-slim: 1x7, 7x1).
MIXED_4A = (
    BranchSpec((_same(64, 1), _conv(96, 3))),
    BranchSpec((_same(64, 1), _same(64, (1, 7)), _same(64, (7, 1)),
                _conv(96, 3))),
)
#: Fig. 3, -> 35x35x384: 3x3/2 V (192) | max-pool.
MIXED_5A = (BranchSpec((_conv(192, 3, 2), )), _MAX_POOL)
#: Fig. 4, Inception-A, 35x35x384.
INCEPTION_A = (
    BranchSpec((_same(96, 1), )),
    BranchSpec((_same(64, 1), _same(96, 3))),
    BranchSpec((_same(64, 1), _same(96, 3), _same(96, 3))),
    BranchSpec((_same(96, 1), ), pool='avg'),
)
#: Fig. 7 with Table 1's Inception-v4 row (k, l, m, n) = (192, 224, 256,
#: 384): 35x35x384 -> 17x17x1024.
REDUCTION_A = (
    BranchSpec((_conv(384, 3, 2), )),
    BranchSpec((_same(192, 1), _same(224, 3), _conv(256, 3, 2))),
    _MAX_POOL,
)
#: Fig. 5, Inception-B, 17x17x1024.
INCEPTION_B = (
    BranchSpec((_same(384, 1), )),
    BranchSpec((_same(192, 1), _same(224, (1, 7)), _same(256, (7, 1)))),
    BranchSpec((_same(192, 1), _same(192, (7, 1)), _same(224, (1, 7)),
                _same(224, (7, 1)), _same(256, (1, 7)))),
    BranchSpec((_same(128, 1), ), pool='avg'),
)
#: Fig. 8, 17x17x1024 -> 8x8x1536.
REDUCTION_B = (
    BranchSpec((_same(192, 1), _conv(192, 3, 2))),
    BranchSpec((_same(256, 1), _same(256, (1, 7)), _same(320, (7, 1)),
                _conv(320, 3, 2))),
    _MAX_POOL,
)
_PAIR_1x3_3x1 = (_same(256, (1, 3)), _same(256, (3, 1)))
#: Fig. 6, Inception-C, 8x8x1536.
INCEPTION_C = (
    BranchSpec((_same(256, 1), )),
    BranchSpec((_same(384, 1), ), fork=_PAIR_1x3_3x1),
    BranchSpec((_same(384, 1), _same(448, (3, 1)), _same(512, (1, 3))),
               fork=_PAIR_1x3_3x1),
    BranchSpec((_same(256, 1), ), pool='avg'),
)

Layer = Tuple[str, Union[ConvSpec, Tuple[BranchSpec, ...]]]


def _repeat(prefix: str, letters: str, block) -> Tuple[Layer, ...]:
    return tuple((f'{prefix}{letter}', block) for letter in letters)


#: The stem's first convolution (Fig. 3): 299x299x3 -> 149x149x32.
INCEPTION_V4_STEM: Layer = ('Conv2d_1a_3x3', _conv(32, 3, 2))
#: Fig. 9 cut at the downsamplings: one tuple per stage, (name, layer).
#: Stage i's maps have stride 2 ** (i + 1); each stage after the first
#: starts with the block that downsamples (Mixed_3a, Mixed_5a, the
#: reductions); the first stage's downsampling is the stem's stride-2 conv.
INCEPTION_V4_STAGES: Tuple[Tuple[Layer, ...], ...] = (
    # stride 2: the rest of Fig. 3's plain convolutions, 147x147x64
    (('Conv2d_2a_3x3', _conv(32, 3)), ('Conv2d_2b_3x3', _same(64, 3))),
    # stride 4: 73x73x160, then 71x71x192
    (('Mixed_3a', MIXED_3A), ('Mixed_4a', MIXED_4A)),
    # stride 8: 35x35x384, the end of the stem, then 4 x Inception-A
    (('Mixed_5a', MIXED_5A), *_repeat('Mixed_5', 'bcde', INCEPTION_A)),
    # stride 16: Reduction-A, 7 x Inception-B, 17x17x1024
    (('Mixed_6a', REDUCTION_A), *_repeat('Mixed_6', 'bcdefgh',
                                         INCEPTION_B)),
    # stride 32: Reduction-B, 3 x Inception-C, 8x8x1536
    (('Mixed_7a', REDUCTION_B), *_repeat('Mixed_7', 'bcd', INCEPTION_C)),
)
_STAGE_STRIDES = (2, 4, 8, 16, 32)


def _conv_module(in_channels: int, spec: ConvSpec,
                 conv_cfg: Optional[dict], norm_cfg: dict) -> nn.Module:
    """Conv (no bias) - norm - ReLU; keys ``conv``, ``bn``."""
    return conv_norm_act(in_channels, spec.channels, spec.kernel,
                         stride=spec.stride, padding=spec.padding,
                         conv_cfg=conv_cfg, norm_cfg=norm_cfg)


class _Fork(nn.ModuleList):
    """Convolutions reading the same map, concatenated along channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x) for conv in self], 1)


def _make_branch(in_channels: int, spec: BranchSpec,
                 conv_cfg: Optional[dict], norm_cfg: dict) -> nn.Sequential:
    """``[pool,] conv, conv, ... [, fork]`` as one Sequential, so a
    branch's keys are ``branch{i}.{j}.conv`` (pool first: timm's too)."""
    layers: List[nn.Module] = []
    if spec.pool == 'max':
        layers.append(nn.MaxPool2d(3, stride=2))
    elif spec.pool == 'avg':
        layers.append(
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False))
    elif spec.pool is not None:
        raise ValueError(f"pool must be 'max', 'avg' or None, but got "
                         f'{spec.pool!r}')
    channels = in_channels
    for conv in spec.convs:
        layers.append(_conv_module(channels, conv, conv_cfg, norm_cfg))
        channels = conv.channels
    if spec.fork:
        layers.append(_Fork(
            _conv_module(channels, conv, conv_cfg, norm_cfg)
            for conv in spec.fork))
    return nn.Sequential(*layers)


class InceptionV4Block(nn.Module):
    """A block of Figs. 3-8: its branches run on the same input and are
    concatenated (N, C, H, W) -> (N, ``out_channels``, H', W'); H' = H for
    Inception-A/B/C, (H - 3) // 2 + 1 for the downsampling blocks.

    Args:
        in_channels (int): Channels of the input.
        branches (Sequence[BranchSpec]): The branches, in concatenation
            order (e.g. :data:`INCEPTION_A`).
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict, optional): Norm config; default BN, eps 1e-3.

    Example:
        >>> block = InceptionV4Block(384, INCEPTION_A)
        >>> block(torch.rand(1, 384, 35, 35)).shape
        torch.Size([1, 384, 35, 35])
        >>> reduction = InceptionV4Block(384, REDUCTION_A)
        >>> reduction(torch.rand(1, 384, 35, 35)).shape
        torch.Size([1, 1024, 17, 17])
    """

    def __init__(self,
                 in_channels: int,
                 branches: Sequence[BranchSpec],
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None):
        super().__init__()
        norm_cfg = dict(_NORM_CFG) if norm_cfg is None else norm_cfg
        self.num_branches = len(branches)
        for i, spec in enumerate(branches):
            self.add_module(f'branch{i}',
                            _make_branch(in_channels, spec, conv_cfg,
                                         norm_cfg))
        self.out_channels = sum(b.out_channels(in_channels)
                                for b in branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            getattr(self, f'branch{i}')(x) for i in range(self.num_branches)
        ], 1)


@MODELS.register_module()
class InceptionV4(BaseBackbone):
    """Inception v4 backbone (paper Fig. 9, without the pool, dropout and
    softmax): timm's ``inception_v4`` without ``last_linear``.

    Stages (``out_indices``), one per resolution, each ending where the
    next downsampling begins; at 299x299:

    ===== ====================================== ======== ====== =======
    index modules                                channels stride map
    ===== ====================================== ======== ====== =======
    0     Conv2d_2a_3x3, Conv2d_2b_3x3           64       2      147x147
    1     Mixed_3a, Mixed_4a                     192      4      71x71
    2     Mixed_5a, Mixed_5b-5e (Inception-A)    384      8      35x35
    3     Mixed_6a (Reduction-A), Mixed_6b-6h    1024     16     17x17
    4     Mixed_7a (Reduction-B), Mixed_7b-7d    1536     32     8x8
    ===== ====================================== ======== ====== =======

    The stem (``frozen_stages=0``) is Conv2d_1a_3x3, the first stride-2
    convolution. Output 1 is the last stride-4 map (after Mixed_4a, 192
    channels); timm's ``features_only`` taps its stride-4 feature earlier,
    after Mixed_3a (160 channels). Convolutions marked "V" in the paper are
    unpadded, so the maps are smaller than input / stride and the smallest
    input is 75x75 (a ValueError below).

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict, optional): Norm config; default BN with eps 1e-3
            (TensorFlow's, as in the published weights).

    Example:
        >>> model = InceptionV4(out_indices=(0, 1, 2, 3, 4)).eval()
        >>> outs = model(torch.rand(1, 3, 299, 299))
        >>> [tuple(o.shape) for o in outs]
        [(1, 64, 147, 147), (1, 192, 71, 71), (1, 384, 35, 35), \
(1, 1024, 17, 17), (1, 1536, 8, 8)]
    """

    min_input_size = 75

    def __init__(self,
                 out_indices: Union[int, Sequence[int]] = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        # Both checked again after building; first here, so that a bad
        # argument fails before 41 M parameters are allocated.
        num_stages = len(INCEPTION_V4_STAGES)
        self.resolve_out_indices(out_indices, num_stages)
        if not -1 <= self.frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in -1..{num_stages} '
                             f'for InceptionV4, but got {self.frozen_stages}')
        norm_cfg = dict(_NORM_CFG) if norm_cfg is None else norm_cfg
        build = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        name, spec = INCEPTION_V4_STEM
        self.add_module(name, _conv_module(self.in_channels, spec, **build))
        stem = [name]
        channels, stage_channels = spec.channels, []
        stages: List[List[str]] = []
        for stage in INCEPTION_V4_STAGES:
            for name, spec in stage:
                if isinstance(spec, ConvSpec):
                    layer = _conv_module(channels, spec, **build)
                    channels = spec.channels
                else:
                    layer = InceptionV4Block(channels, spec, **build)
                    channels = layer.out_channels
                self.add_module(name, layer)
            stages.append([name for name, _ in stage])
            stage_channels.append(channels)
        self.declare_stages(stem=stem, stages=stages, channels=stage_channels,
                            strides=_STAGE_STRIDES)
