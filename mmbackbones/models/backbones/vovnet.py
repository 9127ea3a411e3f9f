"""VoVNet (Lee et al., "An Energy and GPU-Computation Efficient Backbone
Network for Real-Time Object Detection", CVPRW 2019) and VoVNetV2 (Lee &
Park, "CenterMask: Real-Time Anchor-Free Instance Segmentation", CVPR 2020:
identity mapping and effective squeeze-excitation, "eSE").

mmpretrain has no VoVNet; module names are our own and
``mmbackbones.converters`` maps timm's ``vovnet*`` / ``ese_vovnet*``.
"""
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule

from mmbackbones.registry import MODELS
from ..base import BaseBackbone, as_named_arch, make_stage_strides
from ..layers import conv_norm_act
from ..layers.pooled_conv import PooledConv1x1
from ..layers.utils import spatial_mean

__all__ = ['VoVNet', 'OSABlock', 'EffectiveSE', 'VOVNET_ARCHS', 'VoVNetArch']


class EffectiveSE(nn.Module):
    """Effective squeeze-excitation (CenterMask Sec. 3.2, Eq. 1):
    ``x * hsigmoid(W(avgpool(x)))`` with ONE full-width 1x1 convolution --
    no channel reduction, so no information is lost in a squeeze.

    Keys: ``fc`` (weight and bias, as a 1x1 convolution). The convolution
    runs as a matrix product on the pooled vector (:class:`PooledConv1x1`).

    Example:
        >>> EffectiveSE(16)(torch.rand(2, 16, 4, 4)).shape
        torch.Size([2, 16, 4, 4])
    """

    def __init__(self, channels: int):
        super().__init__()
        self.fc = PooledConv1x1(channels, channels)
        self.gate = nn.Hardsigmoid()  # relu6(x + 3) / 6, as timm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc(spatial_mean(x)))


def _conv3x3(in_channels: int, out_channels: int, stride: int,
             depthwise: bool, common: dict) -> nn.Module:
    """3x3 conv-BN-ReLU, or (``depthwise``) a depthwise 3x3 without norm
    and bias followed by pointwise conv-BN-ReLU (keys ``depthwise_conv``,
    ``pointwise_conv``)."""
    if not depthwise:
        return conv_norm_act(in_channels, out_channels, 3, stride=stride,
                             **common)
    return DepthwiseSeparableConvModule(
        in_channels, out_channels, 3, stride=stride, padding=1, bias=False,
        dw_norm_cfg=None, dw_act_cfg=None, **common)


class OSABlock(nn.Module):
    """One-shot aggregation (paper Fig. 2b): ``num_layers`` 3x3 convs in a
    chain, whose outputs are concatenated ONCE, with the block input, and
    aggregated by a 1x1 conv; V2 adds eSE and the identity shortcut.

    (N, in, H, W) -> [reduction 1x1 -> in=mid, depthwise blocks only]
    -> layers: ``num_layers`` x (N, mid, H, W)
    -> cat(input, *layers): (N, in + num_layers * mid, H, W)
    -> concat 1x1: (N, out, H, W) -> [ese] -> [+ input]

    Keys: ``reduction`` (optional), ``layers.<i>``, ``concat``, ``ese``
    (optional).

    Example:
        >>> block = OSABlock(64, 32, 128, num_layers=3, ese=True)
        >>> block(torch.rand(1, 64, 8, 8)).shape
        torch.Size([1, 128, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: int,
                 out_channels: int,
                 num_layers: int,
                 residual: bool = False,
                 depthwise: bool = False,
                 ese: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU')):
        super().__init__()
        if residual and in_channels != out_channels:
            raise ValueError('an OSABlock with an identity shortcut keeps its '
                             f'channels: in_channels={in_channels} != '
                             f'out_channels={out_channels}')
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.residual = residual
        # A depthwise conv cannot change channels: reduce to mid first.
        self.reduction = (
            conv_norm_act(in_channels, mid_channels, 1, **common)
            if depthwise and in_channels != mid_channels else None)
        layer_in = mid_channels if depthwise else in_channels
        self.layers = nn.ModuleList()
        for _ in range(num_layers):
            self.layers.append(
                _conv3x3(layer_in, mid_channels, 1, depthwise, common))
            layer_in = mid_channels
        self.concat = conv_norm_act(in_channels + num_layers * mid_channels,
                                    out_channels, 1, **common)
        self.ese = EffectiveSE(out_channels) if ese else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        out = x if self.reduction is None else self.reduction(x)
        for layer in self.layers:
            out = layer(out)
            features.append(out)
        out = self.concat(torch.cat(features, dim=1))
        if self.ese is not None:
            out = self.ese(out)
        if self.residual:
            out = out + x
        return out


@dataclass(frozen=True)
class VoVNetArch:
    """One network of VoVNet's Table 1 / CenterMask's VoVNetV2 table."""
    stem_channels: Tuple[int, int, int]  # three 3x3 convs, strides 2, 1, 2
    mid_channels: Tuple[int, int, int, int]  # 3x3 conv width per stage
    out_channels: Tuple[int, int, int, int]  # concat 1x1 width per stage
    num_blocks: Tuple[int, int, int, int]  # OSA blocks per stage
    num_layers: int  # 3x3 convs per OSA block
    residual: bool = False  # V2: identity shortcut (not on a stage's first)
    ese: bool = False  # V2: eSE on the last block of each stage
    depthwise: bool = False  # depthwise-separable 3x3s (and stem convs 2-3)


_V1 = dict(stem_channels=(64, 64, 128), mid_channels=(128, 160, 192, 224),
           out_channels=(256, 512, 768, 1024))
_SLIM = dict(mid_channels=(64, 80, 96, 112), out_channels=(112, 256, 384,
                                                           512))
_V2 = dict(_V1, residual=True, ese=True)

#: Presets. V1 (VoVNet Table 1): '27-slim', '39' (timm ``vovnet39a``),
#: '57' (``vovnet57a``). V2 (CenterMask, "VoVNetV2-N"): 'ese-<N>' is timm's
#: ``ese_vovnet<N>b``; '-slim' narrow stages, '-dw' depthwise separable.
VOVNET_ARCHS: Dict[str, VoVNetArch] = {
    '27-slim': VoVNetArch((64, 64, 128), (64, 80, 96, 112),
                          (128, 256, 384, 512), (1, 1, 1, 1), 5),
    '39': VoVNetArch(**_V1, num_blocks=(1, 1, 2, 2), num_layers=5),
    '57': VoVNetArch(**_V1, num_blocks=(1, 1, 4, 3), num_layers=5),
    'ese-19-slim-dw': VoVNetArch(
        (64, 64, 64), **_SLIM, num_blocks=(1, 1, 1, 1), num_layers=3,
        residual=True, ese=True, depthwise=True),
    'ese-19-dw': VoVNetArch(
        (64, 64, 64), _V1['mid_channels'], _V1['out_channels'],
        num_blocks=(1, 1, 1, 1), num_layers=3, residual=True, ese=True,
        depthwise=True),
    'ese-19-slim': VoVNetArch(
        (64, 64, 128), **_SLIM, num_blocks=(1, 1, 1, 1), num_layers=3,
        residual=True, ese=True),
    'ese-19': VoVNetArch(**_V2, num_blocks=(1, 1, 1, 1), num_layers=3),
    'ese-39': VoVNetArch(**_V2, num_blocks=(1, 1, 2, 2), num_layers=5),
    'ese-57': VoVNetArch(**_V2, num_blocks=(1, 1, 4, 3), num_layers=5),
    'ese-99': VoVNetArch(**_V2, num_blocks=(1, 3, 9, 3), num_layers=5),
}

_ARCH_KEYS = [f.name for f in fields(VoVNetArch)]
_REQUIRED = ['stem_channels', 'mid_channels', 'out_channels', 'num_blocks',
             'num_layers']


def _resolve_arch(arch: Union[str, dict]) -> VoVNetArch:
    if not isinstance(arch, (str, dict)):
        raise TypeError('arch must be a preset name or a dict, but got '
                        f'{type(arch).__name__}')
    arch = as_named_arch(
        arch, VOVNET_ARCHS, required_keys=_REQUIRED,
        optional_keys=[k for k in _ARCH_KEYS if k not in _REQUIRED])
    if isinstance(arch, VoVNetArch):
        return arch
    spec = VoVNetArch(**{
        k: tuple(v) if isinstance(v, (list, tuple)) else v
        for k, v in arch.items()
    })
    lengths = {3: ['stem_channels'],
               4: ['mid_channels', 'out_channels', 'num_blocks']}
    for length, keys in lengths.items():
        for key in keys:
            value = getattr(spec, key)
            if (not isinstance(value, tuple) or len(value) != length
                    or not all(isinstance(v, int) and v > 0 for v in value)):
                raise ValueError(f'custom arch: {key} must be {length} '
                                 f'positive ints, but got {value!r}')
    if not isinstance(spec.num_layers, int) or spec.num_layers < 1:
        raise ValueError('custom arch: num_layers must be a positive int, '
                         f'but got {spec.num_layers!r}')
    return spec


@MODELS.register_module()
class VoVNet(BaseBackbone):
    """VoVNet (V1) and VoVNetV2 backbone.

    Stem: three 3x3 conv-BN-ReLU (strides 2, 1, 2; depthwise-separable
    second and third convs in the '-dw' variants). Stages (``out_indices``
    0-3, strides 4, 8, 16, 32): OSA blocks; stages 1-3 start with a 3x3
    stride-2 max pool (``ceil_mode``, as the reference implementations).

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        arch (str | dict): A key of :data:`VOVNET_ARCHS` (see its comment
            for the mapping to timm's names) or a dict with the fields of
            :class:`VoVNetArch`.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config. Default: BN.
        act_cfg (dict): Activation config. Default: ReLU.

    Example:
        >>> model = VoVNet('ese-19-slim', out_indices=(0, 1, 2, 3))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 112, 16, 16), (1, 256, 8, 8), (1, 384, 4, 4), (1, 512, 2, 2)]
    """

    # The stem (three padded 3x3 convs, strides 2, 1, 2) must leave 8 px
    # for the three ceil-mode 3x3/2 pools (8 -> 4 -> 2 -> 1): 29 px gives
    # 15 then 8; 28 px leaves 7 and the last pool an empty window.
    min_input_size = 29

    def __init__(self,
                 arch: Union[str, dict] = '39',
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        spec = _resolve_arch(arch)
        self.arch = arch
        self.arch_spec = spec
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stem = self._make_stem(self.in_channels, spec, common)
        self.stages = nn.ModuleList()
        channels = spec.stem_channels[-1]
        for i in range(4):
            self.stages.append(
                self._make_stage(i, channels, spec, common))
            channels = spec.out_channels[i]
        self.declare_stages(
            stem=['stem'],
            stages=[self.blocks(f'stages.{i}') for i in range(4)],
            channels=spec.out_channels,
            strides=make_stage_strides(4, [1, 2, 2, 2]))

    @staticmethod
    def _make_stem(in_channels: int, spec: VoVNetArch,
                   common: dict) -> nn.Sequential:
        c0, c1, c2 = spec.stem_channels
        return nn.Sequential(
            conv_norm_act(in_channels, c0, 3, stride=2, **common),
            _conv3x3(c0, c1, 1, spec.depthwise, common),
            _conv3x3(c1, c2, 2, spec.depthwise, common))

    @staticmethod
    def _make_stage(index: int, in_channels: int, spec: VoVNetArch,
                    common: dict) -> nn.Sequential:
        """Keys: ``pool`` (stages 1-3, no parameters), then ``0``, ``1``...
        for the OSA blocks."""
        modules = OrderedDict()
        if index > 0:
            modules['pool'] = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        num_blocks = spec.num_blocks[index]
        for j in range(num_blocks):
            modules[str(j)] = OSABlock(
                in_channels, spec.mid_channels[index],
                spec.out_channels[index], spec.num_layers,
                residual=spec.residual and j > 0, depthwise=spec.depthwise,
                ese=spec.ese and j == num_blocks - 1, **common)
            in_channels = spec.out_channels[index]
        return nn.Sequential(modules)
