"""CSPNet (Wang et al., "CSPNet: A New Backbone that can Enhance Learning
Capability of CNN", CVPRW 2020): the generic :class:`CSPNet` and its
presets CSPDarknet-53, CSPResNet-50, CSPResNeXt-50.

Every CSP network is a stem and one :class:`CSPStage` per stage over some
block: a stage optionally downsamples, expands with a 1x1 convolution,
splits the channels in two halves, runs the blocks on one half only, and
concatenates it (after a 1x1 transition) with the untouched half before a
final 1x1 transition (paper Fig. 2(b) / Sec. 3.1).

The surface is mmpretrain's: ``CSPNet(arch=dict(block_fn=..., in_channels=
..., ...), stem_fn=...)`` builds any such network, and the registry types
``CSPDarkNet(depth=53)``, ``CSPResNet(depth=50)``, ``CSPResNeXt(depth=50)``
are presets of it with mmpretrain's arguments and module names, so its
checkpoints load as they are; ``mmbackbones.converters`` maps timm's
``cspdarknet53``, ``cspresnet50`` and ``cspresnext50``.

How a ``block_fn`` is built here: mmpretrain's three blocks become ours
with the same keys -- ``DarknetBottleneck`` is :class:`~.darknet.DarkBlock`,
its ResNet ``Bottleneck`` and ResNeXt ``Bottleneck`` (32 groups, 32-group
downsamplers, as mmpretrain) are :class:`~.resnet.Bottleneck` -- and so are
our own :class:`~.darknet.DarkBlock` and :class:`~.resnet.Bottleneck`
(grouped downsamplers when ``block_args`` groups it). Any other callable is
called as mmpretrain calls it: ``block_fn(in_channels=c, out_channels=c,
expansion=bottle_ratio, drop_path_rate=..., conv_cfg=..., norm_cfg=...,
act_cfg=..., **block_args)``, with a linear expansion convolution and
ungrouped downsamplers. ``block_args`` a block of ours cannot take (e.g.
mmpretrain's ``use_depthwise=True``) are a ValueError naming the valid ones.
"""
import functools
import math
from dataclasses import asdict, dataclass, fields
from typing import (Callable, Dict, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import torch
import torch.nn as nn
from mmpretrain.models.backbones.cspnet import \
    DarknetBottleneck as MMPretrainDarknetBottleneck
from mmpretrain.models.backbones.resnet import \
    Bottleneck as MMPretrainResNetBottleneck
from mmpretrain.models.backbones.resnext import \
    Bottleneck as MMPretrainResNeXtBottleneck

from mmbackbones.registry import MODELS
from ..base import (BaseBackbone, as_named_arch, check_positive_ints,
                    check_positive_number, make_stage_strides)
from ..layers import conv_norm_act
from .darknet import DarkBlock
from .resnet import Bottleneck

__all__ = [
    'CSPNet', 'CSPDarkNet', 'CSPResNet', 'CSPResNeXt', 'CSPStage', 'CSPArch',
    'CSPDARKNET_ARCHS', 'CSPRESNET_ARCHS', 'CSPRESNEXT_ARCHS'
]

#: ``make_block(channels, expansion, drop_path_rate) -> nn.Module``
BlockFactory = Callable[[int, int, float], nn.Module]


class CSPStage(nn.Module):
    """One cross stage partial stage (CSPNet Fig. 2(b), Sec. 3.1).

    ``x -> downsample_conv -> expand_conv -> split [xa | xb]``;
    ``xb -> blocks -> atfer_blocks_conv``; ``cat(xa, xb) -> final_conv``.

    Shapes: ``(N, in_channels, H, W) -> (N, out_channels, H/2, W/2)`` with a
    downsampler, ``H, W`` without. The blocks see ``expand/2`` channels,
    where ``expand = int(down * expand_ratio)`` and ``down`` is
    ``out_channels`` with ``down_growth`` else ``in_channels``.

    Keys are mmpretrain's ``CSPStage``'s, its spelling ``atfer_blocks_conv``
    included (checkpoint compatibility).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        num_blocks (int): Blocks on the partial path.
        make_block (callable): ``(channels, expansion, drop_path_rate)`` to
            a block that keeps ``channels``.
        expand_ratio (float): ``expand / down`` channels.
        bottle_ratio (int): The blocks' expansion (channels / hidden).
        has_downsampler (bool): Start with a 3x3 stride-2 convolution.
        down_growth (bool): The downsampler goes to ``out_channels``
            (CSPDarknet) instead of keeping ``in_channels``.
        downsample_groups (int): Groups of the downsampler (32 in
            CSPResNeXt, as its 3x3 convolutions).
        expand_act (bool): Activation after the expansion (CSPDarknet);
            the ResNet-block variants keep it linear.
        block_dpr (Sequence[float]): Drop-path rate of each block.
        conv_cfg, norm_cfg, act_cfg (dict): Layer configs.

    Example:
        >>> stage = CSPStage(32, 64, 1, lambda c, e, d: DarkBlock(c, e),
        ...                  expand_ratio=2, bottle_ratio=2)
        >>> tuple(stage(torch.rand(1, 32, 16, 16)).shape), stage.split
        ((1, 64, 8, 8), 32)
    """

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int,
                 make_block: BlockFactory, *,
                 expand_ratio: float = 0.5,
                 bottle_ratio: int = 2,
                 has_downsampler: bool = True,
                 down_growth: bool = False,
                 downsample_groups: int = 1,
                 expand_act: bool = True,
                 block_dpr: Optional[Sequence[float]] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='LeakyReLU', inplace=True)):
        super().__init__()
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        down_channels = out_channels if down_growth else in_channels
        if has_downsampler:
            self.downsample_conv = conv_norm_act(
                in_channels, down_channels, 3, stride=2,
                groups=downsample_groups, **common)
        else:
            self.downsample_conv = nn.Identity()
        expand_channels = int(down_channels * expand_ratio)
        if expand_channels < 2 or expand_channels % 2:
            raise ValueError(
                f'CSPStage: the expansion ({down_channels} x expand_ratio '
                f'{expand_ratio} = {expand_channels} channels) must be even '
                'to split in two halves')
        self.expand_conv = conv_norm_act(
            down_channels, expand_channels, 1, conv_cfg=conv_cfg,
            norm_cfg=norm_cfg, act_cfg=act_cfg if expand_act else None)
        half = expand_channels // 2
        rates = list(block_dpr) if block_dpr is not None else [0.0] * \
            num_blocks
        self.blocks = nn.Sequential(
            *[make_block(half, bottle_ratio, rates[i])
              for i in range(num_blocks)])
        self.atfer_blocks_conv = conv_norm_act(half, half, 1, **common)
        self.final_conv = conv_norm_act(expand_channels, out_channels, 1,
                                        **common)
        self.split = half

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.expand_conv(self.downsample_conv(x))
        # split, not two slices: its backward is one cat, where each slice's
        # backward writes a zero tensor of the whole input (profiled)
        xa, xb = x.split(self.split, dim=1)
        xb = self.atfer_blocks_conv(self.blocks(xb))
        return self.final_conv(torch.cat((xa, xb), dim=1))


@dataclass(frozen=True)
class CSPArch:
    """The numbers of a CSP network: one entry per stage (mmpretrain's
    ``arch`` keys, ``block_fn`` and ``block_args`` aside). The stem's
    width is ``in_channels[0]``."""
    in_channels: Tuple[int, ...]
    out_channels: Tuple[int, ...]
    num_blocks: Tuple[int, ...]
    expand_ratio: Tuple[float, ...]  # expand conv / downsampled channels
    bottle_ratio: Tuple[int, ...]  # block channels / block hidden channels
    has_downsampler: Tuple[bool, ...]
    down_growth: Tuple[bool, ...]

    @classmethod
    def from_dict(cls, arch: dict, name: str = 'arch') -> 'CSPArch':
        """Validate a custom arch (keys checked by the caller); a scalar
        applies to every stage. ``name`` is the argument, for messages."""
        if not isinstance(arch['in_channels'], (list, tuple)):
            raise ValueError(f'custom {name}: in_channels must be a list of '
                             'ints, one per stage, but got '
                             f"{arch['in_channels']!r}")
        num_stages = len(arch['in_channels'])
        values = {
            f.name: _per_stage(arch.get(f.name, _CSP_DEFAULTS.get(f.name)),
                               num_stages, f'custom {name}: {f.name}')
            for f in fields(cls)
        }
        for key in ('in_channels', 'out_channels', 'num_blocks',
                    'bottle_ratio'):
            check_positive_ints(f'custom {name} {key}', values[key],
                                length=num_stages)
        for ratio in values['expand_ratio']:
            check_positive_number(f'custom {name} expand_ratio', ratio)
        for key in ('has_downsampler', 'down_growth'):
            if not all(isinstance(v, bool) for v in values[key]):
                raise ValueError(f'custom {name} {key} must be a bool or one '
                                 f'bool per stage, but got {values[key]}')
        if any(g and not d for g, d in zip(values['down_growth'],
                                           values['has_downsampler'])):
            raise ValueError(f'custom {name}: down_growth needs '
                             'has_downsampler in the same stage')
        for i in range(1, num_stages):
            if values['in_channels'][i] != values['out_channels'][i - 1]:
                raise ValueError(
                    f'custom {name}: in_channels[{i}]='
                    f"{values['in_channels'][i]} must equal out_channels["
                    f"{i - 1}]={values['out_channels'][i - 1]}")
        return cls(**values)


_CSP_DEFAULTS = dict(expand_ratio=0.5, bottle_ratio=2, has_downsampler=True,
                     down_growth=False)
_REQUIRED = ['in_channels', 'out_channels', 'num_blocks']
_OPTIONAL = [f.name for f in fields(CSPArch) if f.name not in _REQUIRED]


def _per_stage(value, num_stages: int, what: str) -> tuple:
    """``value`` (a scalar: every stage's) as one entry per stage."""
    if not isinstance(value, (list, tuple)):
        return (value, ) * num_stages
    if len(value) != num_stages:
        raise ValueError(f'{what} has {len(value)} entries but in_channels '
                         f'has {num_stages} (one per stage)')
    return tuple(value)


#: CSPNet paper Table 1-3 row "CSPDarknet-53" (mmpretrain ``depth=53``).
CSPDARKNET_ARCHS: Dict[int, CSPArch] = {
    53: CSPArch(in_channels=(32, 64, 128, 256, 512),
                out_channels=(64, 128, 256, 512, 1024),
                num_blocks=(1, 2, 8, 8, 4),
                expand_ratio=(2, 1, 1, 1, 1),
                bottle_ratio=(2, 1, 1, 1, 1),
                has_downsampler=(True, ) * 5,
                down_growth=(True, ) * 5),
}

#: CSPNet paper Table 1 row "CSPResNet-50" (mmpretrain ``depth=50``).
CSPRESNET_ARCHS: Dict[int, CSPArch] = {
    50: CSPArch(in_channels=(64, 128, 256, 512),
                out_channels=(128, 256, 512, 1024),
                num_blocks=(3, 3, 5, 2),
                expand_ratio=(4, ) * 4,
                bottle_ratio=(2, ) * 4,
                has_downsampler=(False, True, True, True),
                down_growth=(False, ) * 4),
}

#: CSPNet paper Table 1 row "CSPResNeXt-50" (mmpretrain ``depth=50``).
CSPRESNEXT_ARCHS: Dict[int, CSPArch] = {
    50: CSPArch(in_channels=(64, 256, 512, 1024),
                out_channels=(256, 512, 1024, 2048),
                num_blocks=(3, 3, 5, 2),
                expand_ratio=(4, 2, 2, 2),
                bottle_ratio=(4, ) * 4,
                has_downsampler=(False, True, True, True),
                down_growth=(False, ) * 4),
}


# --------------------------------------------------------------------- #
# block_fn: which block of ours a CSPNet builds
# --------------------------------------------------------------------- #
def _dark_block(channels: int, expansion: int, drop_path_rate: float,
                layers: dict) -> nn.Module:
    return DarkBlock(channels, expansion, drop_path_rate=drop_path_rate,
                     **layers)


def _bottleneck(channels: int, expansion: int, drop_path_rate: float,
                layers: dict, **block_args) -> nn.Module:
    return Bottleneck(channels, channels, expansion=expansion,
                      drop_path_rate=drop_path_rate, **layers, **block_args)


class _BlockRule(NamedTuple):
    """How a CSPNet builds the blocks of one ``block_fn``."""
    #: ``(channels, expansion, drop_path_rate, layers, **block_args)``
    make: Callable[..., nn.Module]
    #: Activation after the expansion conv (mmpretrain: Darknet's only).
    expand_act: bool
    #: Downsampler groups; None: ``block_args``' groups (default 1).
    downsample_groups: Optional[int]
    #: ``block_args`` defaults, and the keys it may hold (None: any).
    defaults: dict
    valid: Optional[Tuple[str, ...]]
    #: ``block_args`` that must keep mmpretrain's default value: ours
    #: (``ours``) has no other form.
    fixed: dict = {}
    ours: str = ''


_BOTTLENECK_ARGS = ('groups', 'width_per_group', 'base_channels', 'style',
                    'dilation')
_DARK_RULE = _BlockRule(
    _dark_block, True, 1, {}, (),
    fixed=dict(add_identity=True, use_depthwise=False), ours='DarkBlock')
_BOTTLENECK_RULE = _BlockRule(_bottleneck, False, None, {}, _BOTTLENECK_ARGS)
#: Keyed by identity, as mmpretrain's CSPStage tests ``block_fn is ...``.
_KNOWN_BLOCKS = (
    (MMPretrainDarknetBottleneck, _DARK_RULE),
    (DarkBlock, _DARK_RULE),
    (MMPretrainResNetBottleneck,
     _BOTTLENECK_RULE._replace(valid=('style', 'dilation'))),
    (MMPretrainResNeXtBottleneck, _BOTTLENECK_RULE._replace(
        downsample_groups=32,
        defaults=dict(groups=32, width_per_group=4, base_channels=64))),
    (Bottleneck, _BOTTLENECK_RULE),
)


def _foreign_block(block_fn: Callable[..., nn.Module], channels: int,
                   expansion: int, drop_path_rate: float, layers: dict,
                   **block_args) -> nn.Module:
    """A block_fn we do not know, called as mmpretrain's CSPStage calls
    it."""
    block = block_fn(in_channels=channels, out_channels=channels,
                     expansion=expansion, drop_path_rate=drop_path_rate,
                     **layers, **block_args)
    if not isinstance(block, nn.Module):
        raise TypeError(f'arch block_fn {block_fn!r} returned a '
                        f'{type(block).__name__}, not an nn.Module')
    return block


def _block_rule(block_fn) -> _BlockRule:
    for known, rule in _KNOWN_BLOCKS:
        if block_fn is known:
            return rule
    if not callable(block_fn):
        raise TypeError(
            'arch block_fn must be a block class or a callable (mmpretrain '
            'or ours: DarkBlock / DarknetBottleneck, Bottleneck, ResNeXt '
            f'Bottleneck), but got {block_fn!r}')
    return _BlockRule(functools.partial(_foreign_block, block_fn), False, 1,
                      {}, None)


def _block_args(rule: _BlockRule, block_fn, block_args: dict,
                where: str) -> dict:
    """``block_args`` of one stage, checked against what ``rule``'s block
    takes, with the rule's defaults."""
    if not isinstance(block_args, dict):
        raise TypeError(f'{where} must be a dict of block arguments, but '
                        f'got {block_args!r}')
    name = getattr(block_fn, '__qualname__', repr(block_fn))
    args = dict(rule.defaults)
    for key, value in block_args.items():
        if key in rule.fixed:
            if value != rule.fixed[key]:
                raise ValueError(
                    f'{where}: {key}={value!r} is not supported: {name} is '
                    f'built as our {rule.ours}, which has '
                    f'{key}={rule.fixed[key]!r} only')
        elif rule.valid is not None and key not in rule.valid:
            raise ValueError(
                f'{where} has {key!r}, which {name} does not take here '
                f'(valid: {sorted(rule.valid) + sorted(rule.fixed)}; '
                'gradient checkpointing is CSPNet(with_cp=True))')
        else:
            args[key] = value
    return args


def _stem_stride(stem: nn.Module, in_channels: int, channels: int,
                 size: int = 128) -> int:
    """The stride of a stem ``stem_fn`` built, found by running it once on
    a blank ``size`` x ``size`` image (eval mode, no gradient: no BN
    statistics change); a stem with other than ``channels`` outputs is a
    ValueError."""
    param = next(stem.parameters(), None)
    x = torch.zeros(1, in_channels, size, size,
                    device=None if param is None else param.device)
    training = stem.training
    stem.eval()
    try:
        with torch.no_grad():
            y = stem(x)
    finally:
        stem.train(training)
    if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[1] != \
            channels:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y)
        raise ValueError(
            f'stem_fn({in_channels}) must give {channels} channels (arch '
            f'in_channels[0]), but its output is {shape} for a {size}x{size} '
            'input')
    return max(1, round(size / y.shape[-1]))


@MODELS.register_module()
class CSPNet(BaseBackbone):
    """A CSP network: ``stem_fn``'s stem, then one :class:`CSPStage` per
    entry of ``arch`` -- mmpretrain's ``CSPNet``, with its arguments.

    Stages (``out_indices``, ``frozen_stages``) are the CSP stages, counted
    from 0 (the stem is no output).

    Args:
        arch (dict): mmpretrain's arch: ``block_fn`` (how it is built: see
            the module docstring), ``in_channels``, ``out_channels``,
            ``num_blocks`` (one entry per stage) and optionally
            ``expand_ratio`` (default 0.5), ``bottle_ratio`` (int, 2),
            ``has_downsampler`` (True), ``down_growth`` (False) -- a scalar
            applies to every stage -- and ``block_args`` (a dict, or one per
            stage: more arguments of the block).
        stem_fn (callable): ``stem_fn(in_channels)`` builds the stem, which
            must output ``arch['in_channels'][0]`` channels (its stride is
            found by running it once on a blank image, for
            ``feature_info``).
        out_indices (int | Sequence[int]): Default: the last stage.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config. Default: BN (eps 1e-5).
        act_cfg (dict): Activation. Default: LeakyReLU (slope 0.01, the
            mmcv/torch default), as mmpretrain and timm.
        drop_path_rate (float): Stochastic depth of the blocks, rising
            linearly over all blocks.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Example:
        >>> from functools import partial
        >>> arch = dict(block_fn=DarkBlock, in_channels=(16, 32),
        ...             out_channels=(32, 64), num_blocks=(1, 1))
        >>> model = CSPNet(arch, partial(conv_norm_act, out_channels=16,
        ...                              kernel_size=3), out_indices=(0, 1))
        >>> [f['stride'] for f in model.feature_info]
        [2, 4]
    """

    def __init__(self,
                 arch: dict,
                 stem_fn: Callable[[int], nn.Module],
                 *,
                 out_indices: Union[int, Sequence[int]] = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', eps=1e-5),
                 act_cfg: dict = dict(type='LeakyReLU', inplace=True),
                 drop_path_rate: float = 0.0,
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        if not isinstance(arch, dict):
            raise TypeError(
                'arch must be a dict with block_fn, in_channels, '
                'out_channels and num_blocks (the presets are CSPDarkNet('
                'depth=53), CSPResNet(depth=50), CSPResNeXt(depth=50)), but '
                f'got {arch!r}')
        as_named_arch(arch, {}, required_keys=['block_fn', *_REQUIRED],
                      optional_keys=[*_OPTIONAL, 'block_args'])
        self.arch = CSPArch.from_dict(
            {k: v for k, v in arch.items()
             if k not in ('block_fn', 'block_args')})
        self.block_fn = arch['block_fn']
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        if not callable(stem_fn):
            raise TypeError('stem_fn must be a callable (in_channels) -> '
                            f'nn.Module, but got {stem_fn!r}')
        self.stem = stem_fn(self.in_channels)
        if not isinstance(self.stem, nn.Module):
            raise TypeError(f'stem_fn returned a {type(self.stem).__name__}'
                            ', not an nn.Module')
        stem_stride = _stem_stride(self.stem, self.in_channels,
                                   self.arch.in_channels[0])
        self.stages = self._make_stages(arch.get('block_args', {}),
                                        drop_path_rate)
        stages = [[f'stages.{i}'] for i in range(len(self.stages))]
        # mmpretrain's CSPNet: frozen_stages=k freezes the stem and stages
        # 0..k (0: the stem and the first stage).
        self.declare_stages(
            stem=['stem'], stages=stages,
            freeze_units=[['stem', *stages[0]], *stages[1:]],
            channels=self.arch.out_channels,
            strides=make_stage_strides(
                stem_stride,
                [2 if d else 1 for d in self.arch.has_downsampler]))

    def _make_stages(self, block_args: Union[dict, Sequence[dict]],
                     drop_path_rate: float) -> nn.Sequential:
        arch = self.arch
        rule = _block_rule(self.block_fn)
        per_stage = _per_stage(block_args, len(arch.num_blocks),
                               'arch block_args')
        layers = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                      act_cfg=self.act_cfg)
        total = sum(arch.num_blocks)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        stages, start = [], 0
        for i, num_blocks in enumerate(arch.num_blocks):
            args = _block_args(rule, self.block_fn, per_stage[i],
                               f'arch block_args[{i}]')
            groups = rule.downsample_groups or args.get('groups', 1)
            stages.append(
                CSPStage(
                    arch.in_channels[i], arch.out_channels[i], num_blocks,
                    functools.partial(rule.make, layers=layers, **args),
                    expand_ratio=arch.expand_ratio[i],
                    bottle_ratio=arch.bottle_ratio[i],
                    has_downsampler=arch.has_downsampler[i],
                    down_growth=arch.down_growth[i],
                    downsample_groups=groups, expand_act=rule.expand_act,
                    block_dpr=rates[start:start + num_blocks], **layers))
            start += num_blocks
        return nn.Sequential(*stages)


class _CSPPreset(CSPNet):
    """A named CSP network: ``depth`` is a key of ``ARCHS`` or a custom
    dict of :class:`CSPArch`'s keys; the block is ``block_fn`` with
    ``block_args``; the subclass builds the stem in :meth:`make_stem`."""

    ARCHS: Dict[int, CSPArch] = {}
    block_fn: Callable[..., nn.Module] = DarkBlock
    block_args: dict = {}

    def __init__(self, depth: Union[int, dict], **kwargs):
        arch = as_named_arch(depth, self.ARCHS, 'depth',
                             required_keys=_REQUIRED, optional_keys=_OPTIONAL)
        if isinstance(arch, dict):
            arch = CSPArch.from_dict(arch, 'depth')
        self.depth = depth
        super().__init__(
            dict(asdict(arch), block_fn=type(self).block_fn,
                 block_args=self.block_args), self.make_stem, **kwargs)

    def make_stem(self, in_channels: int) -> nn.Module:
        """The stem, to ``self.arch.in_channels[0]`` channels."""
        raise NotImplementedError

    def _conv(self, in_channels: int, out_channels: int, kernel_size: int,
              stride: int = 1) -> nn.Module:
        return conv_norm_act(in_channels, out_channels, kernel_size,
                             stride=stride, conv_cfg=self.conv_cfg,
                             norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)


#: mmpretrain's CSPDarkNet initialisation (PyTorch's default conv init
#: expressed as Kaiming-uniform with a = sqrt(5)).
_CSPDARKNET_INIT = dict(type='Kaiming', layer='Conv2d', a=math.sqrt(5),
                        distribution='uniform', mode='fan_in',
                        nonlinearity='leaky_relu')


@MODELS.register_module()
class CSPDarkNet(_CSPPreset):
    """CSPDarknet-53: a stride-1 3x3 stem and five CSP stages of
    :class:`~.darknet.DarkBlock` (the YOLOv4 backbone).

    Stages 0-4: 64, 128, 256, 512, 1024 channels at strides 2-32.

    Args:
        depth (int | dict): 53, or a custom dict of :class:`CSPArch`'s
            keys (scalars apply to every stage).
        out_indices (int | Sequence[int]): Default (4, ), mmpretrain's.
        init_cfg (dict | list[dict], optional): Default: mmpretrain's
            (PyTorch's default conv init).

    Other keyword arguments: those of :class:`CSPNet` but ``arch`` and
    ``stem_fn`` (conv_cfg, norm_cfg, act_cfg, drop_path_rate), and
    frozen_stages, norm_eval, with_cp, in_channels: see
    :class:`~mmbackbones.models.base.BaseBackbone`.

    Example:
        >>> model = CSPDarkNet(depth=53, out_indices=(0, 1, 2, 3, 4)).eval()
        >>> [tuple(o.shape)[1:] for o in model(torch.rand(1, 3, 64, 64))]
        [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (1024, 2, 2)]
    """

    ARCHS = CSPDARKNET_ARCHS
    block_fn = DarkBlock

    def __init__(self,
                 depth: Union[int, dict] = 53,
                 *,
                 out_indices: Union[int, Sequence[int]] = (4, ),
                 init_cfg: Optional[Union[dict, list]] = dict(
                     _CSPDARKNET_INIT),
                 **kwargs):
        super().__init__(depth, out_indices=out_indices, init_cfg=init_cfg,
                         **kwargs)

    def make_stem(self, in_channels: int) -> nn.Module:
        return self._conv(in_channels, self.arch.in_channels[0], 3)


@MODELS.register_module()
class CSPResNet(_CSPPreset):
    """CSPResNet-50: ResNet's stem (7x7 stride-2 conv and max-pool, or with
    ``deep_stem`` three 3x3 convs) and four CSP stages of ResNet
    bottlenecks; the first stage does not downsample.

    Stages 0-3: 128, 256, 512, 1024 channels at strides 4-32.

    Args:
        depth (int | dict): 50, or a custom dict of :class:`CSPArch`'s
            keys (scalars apply to every stage).
        out_indices (int | Sequence[int]): Default (3, ), mmpretrain's.
        deep_stem (bool): Three 3x3 convolutions instead of the 7x7 one
            (mmpretrain's option; keys ``stem.0``-``stem.2``, pool
            ``stem.3``).
        init_cfg (dict | list[dict], optional): Default: Kaiming convs,
            mmpretrain's.

    Other keyword arguments: as :class:`CSPDarkNet`.

    Example:
        >>> model = CSPResNet(depth=50, out_indices=(0, 1, 2, 3)).eval()
        >>> [tuple(o.shape)[1:] for o in model(torch.rand(1, 3, 64, 64))]
        [(128, 16, 16), (256, 8, 8), (512, 4, 4), (1024, 2, 2)]
    """

    ARCHS = CSPRESNET_ARCHS
    block_fn = Bottleneck

    def __init__(self,
                 depth: Union[int, dict] = 50,
                 *,
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 deep_stem: bool = False,
                 init_cfg: Optional[Union[dict, list]] = dict(
                     type='Kaiming', layer='Conv2d'),
                 **kwargs):
        self.deep_stem = deep_stem
        super().__init__(depth, out_indices=out_indices, init_cfg=init_cfg,
                         **kwargs)

    def make_stem(self, in_channels: int) -> nn.Module:
        channels = self.arch.in_channels[0]
        if self.deep_stem:
            half = channels // 2
            convs = [self._conv(in_channels, half, 3, stride=2),
                     self._conv(half, half, 3),
                     self._conv(half, channels, 3)]
        else:
            convs = [self._conv(in_channels, channels, 7, stride=2)]
        return nn.Sequential(*convs,
                             nn.MaxPool2d(kernel_size=3, stride=2, padding=1))


@MODELS.register_module()
class CSPResNeXt(CSPResNet):
    """CSPResNeXt-50: CSPResNet with ResNeXt bottlenecks (32 groups of 4
    channels per 32 bottleneck channels, i.e. ``base_channels=32``: the
    CSP split halves the width a ResNeXt stage would have) and 32-group
    downsamplers. Arguments: as :class:`CSPResNet`.

    Stages 0-3: 256, 512, 1024, 2048 channels at strides 4-32.

    Example:
        >>> model = CSPResNeXt(depth=50)
        >>> model.out_channels, model.stages[1].downsample_conv.conv.groups
        ((2048,), 32)
    """

    ARCHS = CSPRESNEXT_ARCHS
    block_args = dict(groups=32, width_per_group=4, base_channels=32)
