"""DenseNet (Huang et al., "Densely Connected Convolutional Networks",
CVPR 2017), the ImageNet form DenseNet-BC: every layer is BN-ReLU-Conv1x1
(bottleneck, ``bn_size * growth_rate`` channels) then BN-ReLU-Conv3x3
(``growth_rate`` channels), and transitions halve the channels.

Module names follow mmpretrain's ``DenseNet`` (``stem``, ``stages.i.block.j``,
``transitions.i``), so its checkpoints load as they are;
``mmbackbones.converters`` maps torchvision's and timm's ``features.*`` names.
"""
import math
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer

from mmbackbones.registry import MODELS
from ..base import (BaseBackbone, as_named_arch, check_positive_int,
                    check_rate, make_stage_strides)

__all__ = ['DenseNet', 'DenseLayer', 'DenseBlock', 'DenseTransition',
           'DENSENET_ARCHS']


#: Activations run in place unless ``act_cfg`` says otherwise: each follows
#: a BN (whose backward reads its input, not its output) and their own
#: backward reads their output, so in place is safe, as torchvision's
#: ``ReLU(inplace=True)``, and saves a tensor per layer.
_INPLACE_ACTS = ('ReLU', 'LeakyReLU', 'ReLU6')


def _activation(act_cfg: dict) -> nn.Module:
    cfg = dict(act_cfg)
    if cfg.get('type') in _INPLACE_ACTS:
        cfg.setdefault('inplace', True)
    return build_activation_layer(cfg)


class DenseLayer(nn.Module):
    """One layer of a dense block (paper Sec. 3, "bottleneck layers").

    ``x`` (N, C, H, W) -> BN-ReLU-Conv1x1 (``bn_size * growth_rate``) ->
    BN-ReLU-Conv3x3 (``growth_rate``) -> concatenated after ``x``:
    (N, C + growth_rate, H, W). Each layer returns the running
    concatenation, so a block is a plain chain of layers (and gradient
    checkpointing works per layer). Keys: ``norm1``, ``conv1``, ``norm2``,
    ``conv2`` (mmpretrain's and torchvision's).

    Example:
        >>> layer = DenseLayer(64, growth_rate=32)
        >>> layer(torch.rand(1, 64, 8, 8)).shape
        torch.Size([1, 96, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 growth_rate: int,
                 bn_size: int = 4,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 drop_rate: float = 0.):
        super().__init__()
        mid_channels = bn_size * growth_rate
        self.norm1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.act = _activation(act_cfg)
        self.norm2 = build_norm_layer(norm_cfg, mid_channels)[1]
        self.conv2 = nn.Conv2d(mid_channels, growth_rate, 3, padding=1,
                               bias=False)
        self.drop_rate = float(drop_rate)

    def new_features(self, x: torch.Tensor) -> torch.Tensor:
        """The ``growth_rate`` channels this layer adds."""
        out = self.conv1(self.act(self.norm1(x)))
        out = self.conv2(self.act(self.norm2(out)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.new_features(x)), dim=1)


class DenseBlock(nn.Module):
    """``num_layers`` DenseLayers; keys ``block.j`` as in mmpretrain.

    Output: (N, in_channels + num_layers * growth_rate, H, W).
    """

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int,
                 **layer_kwargs):
        super().__init__()
        self.block = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate,
                       **layer_kwargs) for i in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.block:
            x = layer(x)
        return x


class DenseTransition(nn.Sequential):
    """Transition between dense blocks (paper Sec. 3): BN-ReLU-Conv1x1 to
    ``out_channels`` (compression), then 2x2 average pooling (stride 2).
    Keys ``norm``, ``conv`` (mmpretrain's and torchvision's)."""

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU')):
        super().__init__()
        self.add_module('norm', build_norm_layer(norm_cfg, in_channels)[1])
        self.add_module('act', _activation(act_cfg))
        self.add_module(
            'conv', nn.Conv2d(in_channels, out_channels, 1, bias=False))
        self.add_module('pool', nn.AvgPool2d(kernel_size=2, stride=2))


@dataclass(frozen=True)
class DenseNetArch:
    """One column of the paper's Table 1 (or torchvision's DenseNet-161)."""
    growth_rate: int  # k: channels each layer adds
    depths: Tuple[int, ...]  # layers per dense block
    init_channels: int  # stem output channels (2k in the paper)

    def as_dict(self) -> dict:
        return dict(growth_rate=self.growth_rate, depths=list(self.depths),
                    init_channels=self.init_channels)


#: Paper Table 1 (DenseNet-121/169/201/264, k=32) and DenseNet-161 (k=48,
#: torchvision's and mmpretrain's; the paper's Table 2 ImageNet row).
DENSENET_ARCHS: Dict[str, DenseNetArch] = {
    '121': DenseNetArch(32, (6, 12, 24, 16), 64),
    '169': DenseNetArch(32, (6, 12, 32, 32), 64),
    '201': DenseNetArch(32, (6, 12, 48, 32), 64),
    '264': DenseNetArch(32, (6, 12, 64, 48), 64),
    '161': DenseNetArch(48, (6, 12, 36, 24), 96),
}


def _resolve_arch(arch: Union[str, dict]) -> DenseNetArch:
    if not isinstance(arch, (str, dict)):
        raise TypeError(f'arch must be one of {list(DENSENET_ARCHS)} or a '
                        f'dict, but got {type(arch).__name__}')
    arch = as_named_arch(
        arch, {k: v.as_dict() for k, v in DENSENET_ARCHS.items()},
        required_keys=('growth_rate', 'depths', 'init_channels'))
    depths = arch['depths']
    if (isinstance(depths, (str, bytes)) or not isinstance(depths, Sequence)
            or not depths):
        raise ValueError('arch depths must be a non-empty sequence of '
                         f'positive ints, but got {depths!r}')
    for depth in depths:
        check_positive_int('arch depths entries', depth)
    return DenseNetArch(
        check_positive_int('arch growth_rate', arch['growth_rate']),
        tuple(depths),
        check_positive_int('arch init_channels', arch['init_channels']))


@MODELS.register_module()
class DenseNet(BaseBackbone):
    """DenseNet backbone (DenseNet-BC, ImageNet form).

    Stem: 7x7 conv (stride 2), BN, ReLU, 3x3 max-pool (stride 2). Stage
    ``i`` (``out_indices``) is dense block ``i`` followed by its transition,
    as in mmpretrain: for the 4-block presets, strides 8, 16, 32 and 32; the
    last "transition" is the final BN + ReLU (torchvision's ``norm5`` and
    the ReLU before its pooling), returned by default.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        arch (str | dict): ``'121'``, ``'169'``, ``'201'``, ``'264'``
            (paper Table 1) or ``'161'``; or a dict with ``growth_rate``,
            ``depths`` (layers per block) and ``init_channels``.
        bn_size (int): Bottleneck width factor: the 1x1 conv has
            ``bn_size * growth_rate`` channels. Default: 4.
        drop_rate (float): Dropout after each layer's 3x3 conv.
        compression_factor (float): Channel factor of the transitions, in
            (0, 1]. Default: 0.5 (the "C" of DenseNet-BC).
        memory_efficient (bool): mmpretrain's name for gradient
            checkpointing: the same as ``with_cp`` (per dense layer).
        norm_cfg (dict): Norm config. Default: BN.
        act_cfg (dict): Activation config. Default: ReLU.

    Example:
        >>> model = DenseNet('121', out_indices=(0, 1, 2, 3))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 128, 8, 8), (1, 256, 4, 4), (1, 512, 2, 2), (1, 1024, 2, 2)]
    """

    def __init__(self,
                 arch: Union[str, dict] = '121',
                 bn_size: int = 4,
                 drop_rate: float = 0.,
                 compression_factor: float = 0.5,
                 memory_efficient: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 out_indices: Union[int, Sequence[int]] = -1,
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        spec = _resolve_arch(arch)
        check_positive_int('bn_size', bn_size)
        if not 0 < compression_factor <= 1:
            raise ValueError('compression_factor must be in (0, 1], but got '
                             f'{compression_factor!r}')
        check_rate('drop_rate', drop_rate)
        self.arch = spec
        self.growth_rate = spec.growth_rate
        self.depths = list(spec.depths)
        self.init_channels = spec.init_channels
        # torchvision's name for per-layer checkpointing: with_cp too.
        self.with_cp = self.memory_efficient = (self.with_cp
                                                or memory_efficient)

        self.stem = self._make_stem(self.in_channels, spec.init_channels,
                                    norm_cfg, act_cfg)
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        stage_channels = []
        channels = spec.init_channels
        for i, depth in enumerate(spec.depths):
            self.stages.append(
                DenseBlock(depth, channels, spec.growth_rate,
                           bn_size=bn_size, norm_cfg=norm_cfg,
                           act_cfg=act_cfg, drop_rate=drop_rate))
            channels += depth * spec.growth_rate
            if i < len(spec.depths) - 1:
                out_channels = math.floor(channels * compression_factor)
                self.transitions.append(
                    DenseTransition(channels, out_channels, norm_cfg,
                                    act_cfg))
                channels = out_channels
            else:
                # The BN-ReLU after the last block (torchvision's norm5 and
                # its functional ReLU), a "transition" in mmpretrain.
                self.transitions.append(
                    nn.Sequential(build_norm_layer(norm_cfg, channels)[1],
                                  _activation(act_cfg)))
            stage_channels.append(channels)

        num_stages = len(spec.depths)
        # Stem: /4 (rounding up); each transition's pooling halves, rounding
        # down, and needs at least 2x2.
        self.min_input_size = 4 * 2**(num_stages - 1) - 3
        # Stage i: the layers of stages[i] one by one (so with_cp
        # checkpoints each), then transitions[i].
        stages = [[f'stages.{i}.block.{j}' for j in range(depth)] +
                  [f'transitions.{i}'] for i, depth in enumerate(spec.depths)]
        # mmpretrain's frozen_stages=k freezes stages and transitions
        # 0..k-1 and never the stem.
        self.declare_stages(
            stem=['stem'], stages=stages, channels=stage_channels,
            strides=make_stage_strides(4, [2] * (num_stages - 1) + [1]),
            freeze_units=[[], *stages])

    @staticmethod
    def _make_stem(in_channels: int, channels: int, norm_cfg: dict,
                   act_cfg: dict) -> nn.Sequential:
        # Keys stem.0 (conv) and stem.1 (norm), as in mmpretrain.
        return nn.Sequential(
            nn.Conv2d(in_channels, channels, 7, stride=2, padding=3,
                      bias=False),
            build_norm_layer(norm_cfg, channels)[1],
            _activation(act_cfg),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
