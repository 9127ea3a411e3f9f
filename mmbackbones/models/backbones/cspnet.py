"""CSPNet (Wang et al., "CSPNet: A New Backbone that can Enhance Learning
Capability of CNN", CVPRW 2020): CSPDarknet-53, CSPResNet-50, CSPResNeXt-50.

All three are one :class:`CSPStage` over another block: a stage optionally
downsamples, expands with a 1x1 convolution, splits the channels in two
halves, runs the blocks on one half only, and concatenates it (after a 1x1
transition) with the untouched half before a final 1x1 transition (paper
Fig. 2(b) / Sec. 3.1). The blocks are :class:`~.darknet.DarkBlock` and the
ResNet family's :class:`~.resnet.Bottleneck` (grouped for ResNeXt).

Registry types, arguments and module names are mmpretrain's
(``CSPDarkNet(depth=53)``, ``CSPResNet(depth=50)``,
``CSPResNeXt(depth=50)``), so its checkpoints load as they are;
``mmbackbones.converters`` maps timm's ``cspdarknet53``, ``cspresnet50``
and ``cspresnext50``.
"""
import math
from dataclasses import dataclass, fields
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import BaseBackbone, as_named_arch, make_stage_strides
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
        >>> stage(torch.rand(1, 32, 16, 16)).shape
        torch.Size([1, 64, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_blocks: int,
                 make_block: BlockFactory,
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
    """A CSP network: one entry per stage (mmpretrain's ``arch_settings``
    names). The stem's width is ``in_channels[0]``."""
    in_channels: Tuple[int, ...]
    out_channels: Tuple[int, ...]
    num_blocks: Tuple[int, ...]
    expand_ratio: Tuple[float, ...]  # expand conv / downsampled channels
    bottle_ratio: Tuple[int, ...]  # block channels / block hidden channels
    has_downsampler: Tuple[bool, ...]
    down_growth: Tuple[bool, ...]

    @classmethod
    def from_dict(cls, arch: dict) -> 'CSPArch':
        """Validate a custom arch (its keys: see ``as_named_arch`` in
        ``CSPNet.__init__``); scalars apply to every stage."""
        if not isinstance(arch['in_channels'], (list, tuple)):
            raise ValueError('custom depth: in_channels must be a list of '
                             'ints, one per stage, but got '
                             f"{arch['in_channels']!r}")
        num_stages = len(arch['in_channels'])
        values = {}
        for name in (f.name for f in fields(cls)):
            value = arch.get(name, _CSP_DEFAULTS.get(name))
            if value is None:
                raise ValueError(f'custom depth is missing {name!r}')
            if not isinstance(value, (list, tuple)):
                value = (value, ) * num_stages
            if len(value) != num_stages:
                raise ValueError(
                    f'custom depth: {name} has {len(value)} entries but '
                    f'in_channels has {num_stages} (one per stage)')
            values[name] = tuple(value)
        for name in ('in_channels', 'out_channels', 'num_blocks',
                     'bottle_ratio'):
            if not all(isinstance(v, int) and not isinstance(v, bool)
                       and v > 0 for v in values[name]):
                raise ValueError(f'custom depth: {name} must be positive '
                                 f'ints, but got {values[name]}')
        if any(g and not d for g, d in zip(values['down_growth'],
                                           values['has_downsampler'])):
            raise ValueError('custom depth: down_growth needs '
                             'has_downsampler in the same stage')
        for i in range(1, num_stages):
            if values['in_channels'][i] != values['out_channels'][i - 1]:
                raise ValueError(
                    f'custom depth: in_channels[{i}]='
                    f"{values['in_channels'][i]} must equal out_channels["
                    f"{i - 1}]={values['out_channels'][i - 1]}")
        return cls(**values)


_CSP_DEFAULTS = dict(expand_ratio=0.5, bottle_ratio=2, has_downsampler=True,
                     down_growth=False)

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


class CSPNet(BaseBackbone):
    """What the CSP variants share: a stem and one :class:`CSPStage` per
    entry of the arch table. Subclasses set ``ARCHS``, build the stem in
    :meth:`_make_stem` and the block in :meth:`make_block`.

    Stages (``out_indices``, ``frozen_stages``) are the CSP stages, counted
    from 0; ``frozen_stages=i`` freezes the stem and the first ``i`` stages
    (mmpretrain's ``frozen_stages=i`` freezes ``i + 1`` stages).

    Args:
        depth (int | dict): A preset of ``ARCHS`` or a custom dict with
            :class:`CSPArch`'s keys (scalars apply to every stage).
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config. Default: BN (eps 1e-5).
        act_cfg (dict): Activation. Default: LeakyReLU (slope 0.01, the
            mmcv/torch default), as mmpretrain and timm.
        drop_path_rate (float): Stochastic depth of the blocks, rising
            linearly over all blocks (mmpretrain's ``CSPNet`` argument).
    """

    ARCHS: Dict[int, CSPArch] = {}
    #: Activation after each stage's expansion conv.
    expand_act: bool = False
    #: Groups of each stage's 3x3 stride-2 downsampler.
    downsample_groups: int = 1
    #: Stride of the stem.
    stem_stride: int = 1

    def __init__(self,
                 depth: Union[int, dict],
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = -1,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', eps=1e-5),
                 act_cfg: dict = dict(type='LeakyReLU', inplace=True),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: float = 0.0,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(
            out_indices=out_indices, frozen_stages=frozen_stages,
            norm_eval=norm_eval, with_cp=with_cp, in_channels=in_channels,
            init_cfg=init_cfg)
        required = ['in_channels', 'out_channels', 'num_blocks']
        arch = as_named_arch(
            depth, self.ARCHS, 'depth', required_keys=required,
            optional_keys=[f.name for f in fields(CSPArch)
                           if f.name not in required])
        self.arch = arch if isinstance(arch, CSPArch) else \
            CSPArch.from_dict(arch)
        self.depth = depth
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.stem = self._make_stem(in_channels, self.arch.in_channels[0])
        self.stages = self._make_stages(drop_path_rate)
        stages = [[f'stages.{i}'] for i in range(len(self.stages))]
        # mmpretrain's CSPNet: frozen_stages=k freezes the stem and stages
        # 0..k (0: the stem and the first stage).
        self.declare_stages(
            stem=['stem'], stages=stages,
            freeze_units=[['stem', *stages[0]], *stages[1:]],
            channels=self.arch.out_channels,
            strides=make_stage_strides(
                self.stem_stride,
                [2 if d else 1 for d in self.arch.has_downsampler]))

    def _make_stem(self, in_channels: int, channels: int) -> nn.Module:
        raise NotImplementedError

    def make_block(self, channels: int, expansion: int,
                   drop_path_rate: float) -> nn.Module:
        """A block on ``channels`` channels with ``channels / expansion``
        hidden channels."""
        raise NotImplementedError

    def _make_stages(self, drop_path_rate: float) -> nn.Sequential:
        arch = self.arch
        total = sum(arch.num_blocks)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        stages, start = [], 0
        for i, num_blocks in enumerate(arch.num_blocks):
            stages.append(
                CSPStage(
                    arch.in_channels[i], arch.out_channels[i], num_blocks,
                    self.make_block,
                    expand_ratio=arch.expand_ratio[i],
                    bottle_ratio=arch.bottle_ratio[i],
                    has_downsampler=arch.has_downsampler[i],
                    down_growth=arch.down_growth[i],
                    downsample_groups=self.downsample_groups,
                    expand_act=self.expand_act,
                    block_dpr=rates[start:start + num_blocks],
                    conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg))
            start += num_blocks
        return nn.Sequential(*stages)


#: mmpretrain's CSPDarkNet initialisation (PyTorch's default conv init
#: expressed as Kaiming-uniform with a = sqrt(5)).
_CSPDARKNET_INIT = dict(type='Kaiming', layer='Conv2d', a=math.sqrt(5),
                        distribution='uniform', mode='fan_in',
                        nonlinearity='leaky_relu')


@MODELS.register_module()
class CSPDarkNet(CSPNet):
    """CSPDarknet-53: a stride-1 3x3 stem and five CSP stages of
    :class:`~.darknet.DarkBlock` (the YOLOv4 backbone).

    Stages 0-4: 64, 128, 256, 512, 1024 channels at strides 2-32; the
    default returns stage 4 (mmpretrain's default).

    Example:
        >>> model = CSPDarkNet(depth=53, out_indices=(0, 1, 2, 3, 4)).eval()
        >>> [tuple(o.shape)[1:] for o in model(torch.rand(1, 3, 64, 64))]
        [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (1024, 2, 2)]
    """

    ARCHS = CSPDARKNET_ARCHS
    expand_act = True

    def __init__(self,
                 depth: Union[int, dict] = 53,
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (4, ),
                 init_cfg: Optional[Union[dict, List[dict]]] = dict(
                     _CSPDARKNET_INIT),
                 **kwargs):
        super().__init__(depth, in_channels=in_channels,
                         out_indices=out_indices, init_cfg=init_cfg,
                         **kwargs)

    def _make_stem(self, in_channels: int, channels: int) -> nn.Module:
        return conv_norm_act(in_channels, channels, 3, conv_cfg=self.conv_cfg,
                             norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def make_block(self, channels: int, expansion: int,
                   drop_path_rate: float) -> nn.Module:
        return DarkBlock(channels, expansion, conv_cfg=self.conv_cfg,
                         norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
                         drop_path_rate=drop_path_rate)


@MODELS.register_module()
class CSPResNet(CSPNet):
    """CSPResNet-50: ResNet's stem (7x7 stride-2 conv and max-pool, or with
    ``deep_stem`` three 3x3 convs) and four CSP stages of ResNet
    bottlenecks; the first stage does not downsample.

    Stages 0-3: 128, 256, 512, 1024 channels at strides 4-32.

    Args:
        deep_stem (bool): Three 3x3 convolutions instead of the 7x7 one
            (mmpretrain's option; keys ``stem.0``-``stem.2``, pool
            ``stem.3``).
        **kwargs: :class:`CSPNet` arguments.

    Example:
        >>> model = CSPResNet(depth=50, out_indices=(0, 1, 2, 3)).eval()
        >>> [tuple(o.shape)[1:] for o in model(torch.rand(1, 3, 64, 64))]
        [(128, 16, 16), (256, 8, 8), (512, 4, 4), (1024, 2, 2)]
    """

    ARCHS = CSPRESNET_ARCHS
    stem_stride = 4

    def __init__(self,
                 depth: Union[int, dict] = 50,
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 deep_stem: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = dict(
                     type='Kaiming', layer='Conv2d'),
                 **kwargs):
        self.deep_stem = deep_stem
        super().__init__(depth, in_channels=in_channels,
                         out_indices=out_indices, init_cfg=init_cfg,
                         **kwargs)

    def _make_stem(self, in_channels: int, channels: int) -> nn.Module:
        common = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                      act_cfg=self.act_cfg)
        if self.deep_stem:
            half = channels // 2
            convs = [conv_norm_act(in_channels, half, 3, stride=2, **common),
                     conv_norm_act(half, half, 3, **common),
                     conv_norm_act(half, channels, 3, **common)]
        else:
            convs = [conv_norm_act(in_channels, channels, 7, stride=2,
                                   **common)]
        return nn.Sequential(*convs,
                             nn.MaxPool2d(kernel_size=3, stride=2, padding=1))

    def make_block(self, channels: int, expansion: int,
                   drop_path_rate: float) -> nn.Module:
        return Bottleneck(channels, channels, expansion=expansion,
                          **self.bottleneck_kwargs(),
                          conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                          act_cfg=self.act_cfg,
                          drop_path_rate=drop_path_rate)

    def bottleneck_kwargs(self) -> dict:
        """Width arguments of the bottleneck (ResNeXt's groups)."""
        return {}


@MODELS.register_module()
class CSPResNeXt(CSPResNet):
    """CSPResNeXt-50: CSPResNet with ResNeXt bottlenecks (32 groups of 4
    channels per 32 bottleneck channels, i.e. ``base_channels=32``: the
    CSP split halves the width a ResNeXt stage would have) and 32-group
    downsamplers.

    Stages 0-3: 256, 512, 1024, 2048 channels at strides 4-32.

    Example:
        >>> model = CSPResNeXt(depth=50, out_indices=(0, 1, 2, 3)).eval()
        >>> [tuple(o.shape)[1:] for o in model(torch.rand(1, 3, 64, 64))]
        [(256, 16, 16), (512, 8, 8), (1024, 4, 4), (2048, 2, 2)]
    """

    ARCHS = CSPRESNEXT_ARCHS
    downsample_groups = 32

    def bottleneck_kwargs(self) -> dict:
        return dict(groups=32, width_per_group=4, base_channels=32)
