"""Darknet-53 (Redmon & Farhadi, "YOLOv3: An Incremental Improvement", 2018,
Table 1).

A 3x3 convolution, then five stages of (3x3 stride-2 convolution, residual
blocks of 1x1 reduce + 3x3 expand). :class:`DarkBlock` is also the block of
CSPDarknet-53 (:mod:`.cspnet`), whose stages run it on half the channels.

Registry type, arguments, output numbering and module names are mmdet's
``Darknet(depth=53)`` (the OpenMMLab Darknet; mmpretrain has none), so
mmdet checkpoints load as they are and configs port by changing ``type``.
``mmbackbones.converters`` maps timm's ``darknet53``.

Darknet-53 is not a :class:`~.cspnet.CSPArch` preset of the CSP machinery:
its stages have no cross-stage split (no expansion, transition or
concatenation, just a downsampling conv and residual blocks on all
channels), and its keys (``conv_res_block1.conv``, ``.res0``) must stay
mmdet's; what the two share is shared -- :class:`DarkBlock`, and the
numbers of YOLOv3 Table 1 (CSPDarknet-53's ``num_blocks`` and
``out_channels`` are :data:`DARKNET_ARCHS` ``[53]``'s, a test checks it).
"""
import warnings
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath

from mmbackbones.registry import MODELS
from ..base import (BaseBackbone, as_named_arch, check_positive_int,
                    check_positive_ints, make_stage_strides)
from ..layers import conv_norm_act

__all__ = ['Darknet', 'DarkBlock', 'DarknetArch', 'DARKNET_ARCHS']


class DarkBlock(nn.Module):
    """Darknet residual block: ``x + conv2(conv1(x))`` (YOLOv3 Table 1).

    ``conv1`` is a 1x1 conv-norm-act to ``channels / expansion``, ``conv2`` a
    3x3 conv-norm-act back to ``channels``; no activation after the sum.
    Keys ``conv1``/``conv2`` (ConvModules) are mmdet's ``ResBlock`` and
    mmpretrain's ``DarknetBottleneck``.

    Args:
        channels (int): Input and output channels.
        expansion (int): ``channels / hidden channels``: 2 in Darknet-53
            (and CSPDarknet-53's first stage), 1 in CSPDarknet-53's others.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config.
        act_cfg (dict): Activation config.
        drop_path_rate (float): Stochastic depth of the residual branch.

    Example:
        >>> block = DarkBlock(64)
        >>> block(torch.rand(1, 64, 8, 8)).shape, block.conv1.conv.out_channels
        (torch.Size([1, 64, 8, 8]), 32)
    """

    def __init__(self,
                 channels: int,
                 expansion: int = 2,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='LeakyReLU', negative_slope=0.1),
                 drop_path_rate: float = 0.0):
        super().__init__()
        hidden = int(channels / expansion)
        if hidden < 1:
            raise ValueError(f'DarkBlock: channels={channels} / expansion='
                             f'{expansion} leaves no hidden channels')
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = conv_norm_act(channels, hidden, 1, **common)
        self.conv2 = conv_norm_act(hidden, channels, 3, **common)
        self.drop_path = (DropPath(drop_path_rate)
                          if drop_path_rate > 0 else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.conv2(self.conv1(x)))


@dataclass(frozen=True)
class DarknetArch:
    """One network of YOLOv3 Table 1: residual blocks and output channels
    of each of the five downsampling stages, after a ``stem_channels``
    3x3 convolution."""
    num_blocks: Tuple[int, ...]
    channels: Tuple[int, ...]
    stem_channels: int = 32


#: YOLOv3 Table 1 (the only Darknet of the paper; mmdet's ``depth=53``).
DARKNET_ARCHS: Dict[int, DarknetArch] = {
    53: DarknetArch((1, 2, 8, 8, 4), (64, 128, 256, 512, 1024)),
}


@MODELS.register_module()
class Darknet(BaseBackbone):
    """Darknet-53 backbone (YOLOv3), mmdet's ``Darknet``.

    Outputs, as mmdet counts them (``out_indices``): 0 is the 3x3 stem
    convolution ``conv1`` (stride 1, 32 channels), 1-5 are
    ``conv_res_block1..5`` (strides 2-32, 64-1024 channels). The default
    (3, 4, 5) gives the strides 8, 16, 32 that YOLOv3 uses.
    ``frozen_stages=k`` freezes ``cr_blocks[:k]``: ``conv1`` and the first
    ``k - 1`` residual stages (``k = 0`` nothing); ``-1`` freezes nothing
    (mmdet's rule).

    Args:
        depth (int | dict): 53, or a custom dict with ``num_blocks`` and
            ``channels`` (one entry per stage) and optionally
            ``stem_channels``.
        out_indices (int | Sequence[int]): Default (3, 4, 5), mmdet's.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config. Default: BN.
        act_cfg (dict): Activation. Default: LeakyReLU(0.1), the paper's and
            mmdet's (timm's ``darknet53`` uses 0.01).
        norm_eval (bool): Default True, mmdet's (BN statistics frozen while
            training, for detection).
        drop_path_rate (float): Stochastic depth, rising linearly over the
            residual blocks (0: none, as the paper).
        pretrained (str, optional): Deprecated (mmdet's); use ``init_cfg``.

    Other keyword arguments (frozen_stages, with_cp, in_channels,
    init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Example:
        >>> model = Darknet(depth=53).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 256, 8, 8), (1, 512, 4, 4), (1, 1024, 2, 2)]
    """

    ARCHS = DARKNET_ARCHS

    def __init__(self,
                 depth: Union[int, dict] = 53,
                 out_indices: Union[int, Sequence[int]] = (3, 4, 5),
                 *,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='LeakyReLU', negative_slope=0.1),
                 norm_eval: bool = True,
                 drop_path_rate: float = 0.0,
                 pretrained: Optional[str] = None,
                 **kwargs):
        if pretrained is not None:
            if not isinstance(pretrained, str):
                raise TypeError('pretrained must be a str or None, but got '
                                f'{type(pretrained).__name__}')
            if kwargs.get('init_cfg') is not None:
                raise ValueError('init_cfg and pretrained cannot be given '
                                 'together')
            warnings.warn('Darknet: pretrained is deprecated, use '
                          "init_cfg=dict(type='Pretrained', checkpoint=...)")
            kwargs['init_cfg'] = dict(type='Pretrained', checkpoint=pretrained)
        super().__init__(out_indices=out_indices, norm_eval=norm_eval,
                         **kwargs)
        arch = self._resolve_arch(depth)
        self.depth = depth
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        # Stride-1 3x3 stem: output 0.
        self.conv1 = conv_norm_act(self.in_channels, arch.stem_channels, 3,
                                   **common)
        total = sum(arch.num_blocks)
        rates = iter([drop_path_rate * i / max(total - 1, 1)
                      for i in range(total)])
        self.cr_blocks = ['conv1']
        channels = arch.stem_channels
        for i, (num_blocks, out_channels) in enumerate(
                zip(arch.num_blocks, arch.channels)):
            name = f'conv_res_block{i + 1}'
            self.add_module(
                name,
                self._make_stage(channels, out_channels, num_blocks, rates,
                                 common))
            self.cr_blocks.append(name)
            channels = out_channels

        # As mmdet's Darknet (the reference: mmpretrain has none): conv1
        # is output 0, and frozen_stages=k freezes cr_blocks[:k] (0:
        # nothing, 1: conv1, k: conv1 and the first k - 1 stages).
        stages = [self.blocks(n) for n in self.cr_blocks[1:]]
        self.declare_stages(
            stem=['conv1'], stages=stages,
            channels=(arch.stem_channels, *arch.channels),
            strides=make_stage_strides(1, [1] + [2] * len(arch.channels)),
            stem_is_output=True, freeze_units=[[], ['conv1'], *stages])

    def _resolve_arch(self, depth: Union[int, dict]) -> DarknetArch:
        arch = as_named_arch(depth, self.ARCHS, 'depth',
                             required_keys=['num_blocks', 'channels'],
                             optional_keys=['stem_channels'])
        if isinstance(arch, DarknetArch):
            return arch
        num_blocks = check_positive_ints('custom depth num_blocks',
                                         arch['num_blocks'])
        channels = check_positive_ints('custom depth channels',
                                       arch['channels'])
        if len(num_blocks) != len(channels):
            raise ValueError(
                'custom depth: num_blocks and channels need one entry per '
                f'stage, but got {len(num_blocks)} and {len(channels)}')
        stem = check_positive_int('custom depth stem_channels',
                                  arch.get('stem_channels', 32))
        return DarknetArch(num_blocks, channels, stem)

    @staticmethod
    def _make_stage(in_channels: int, out_channels: int, num_blocks: int,
                    rates, common: dict) -> nn.Sequential:
        """A 3x3 stride-2 convolution, then ``num_blocks`` DarkBlocks
        (keys ``conv``, ``res0``, ``res1``... as mmdet)."""
        stage = nn.Sequential()
        stage.add_module(
            'conv', conv_norm_act(in_channels, out_channels, 3, stride=2,
                                  **common))
        for j in range(num_blocks):
            stage.add_module(
                f'res{j}', DarkBlock(out_channels, expansion=2,
                                     drop_path_rate=next(rates), **common))
        return stage
