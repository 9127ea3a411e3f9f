"""EfficientNet (Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019).

Paper Table 1 (EfficientNet-B0) over the shared
:class:`~mmbackbones.models.layers.InvertedResidual` (MBConv: expansion,
depthwise conv, squeeze-and-excitation to 1/4 of the block's *input*
channels, linear projection; stochastic depth on the residual), scaled to
B1-B8 and L2 by the compound coefficients of Sec. 3.3 (width, depth,
resolution). ``es``/``em``/``el`` are EfficientNet-EdgeTPU (Gupta & Tan,
Google AI blog 2019: fused MBConv "edge residual" blocks in the early
stages, no SE). Arguments, arch names, the ``out_indices`` numbering and the
module names follow mmpretrain's ``EfficientNet``, so its checkpoints load
as they are; ``mmbackbones.converters`` maps torchvision's and timm's names.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import (BaseBackbone, as_named_arch, check_positive_int,
                    check_positive_number, check_rate)
from ..layers import (InvertedResidual, conv_norm_act, make_divisible,
                      mmpretrain_se_layer)
from ..layers.inverted_residual import residual_drop_path

__all__ = ['EfficientNet', 'EdgeResidual', 'EFFICIENTNET_ARCHS',
           'EFFICIENTNET_B0_STAGES', 'EDGETPU_S_STAGES']


@dataclass(frozen=True)
class MBConvStage:
    """One MBConv row of paper Table 1 (stages 2-8)."""
    expand_ratio: int  # the "6" of "MBConv6"
    kernel_size: int  # "k3x3" / "k5x5"
    stride: int  # of the first block (Table 1's resolution drop)
    out_channels: int  # "#Channels" (B0, before width scaling)
    num_blocks: int  # "#Layers" (B0, before depth scaling)
    fused: bool = False  # EdgeTPU's fused MBConv (EdgeResidual)
    se: bool = True  # squeeze-and-excitation (none in EdgeTPU)


#: Paper Table 1, EfficientNet-B0: stages 2-8 (stage 1 is the 3x3 stem
#: conv to 32 channels, stage 9 the 1x1 conv to 1280 before pooling).
EFFICIENTNET_B0_STAGES: Tuple[MBConvStage, ...] = (
    MBConvStage(1, 3, 1, 16, 1),
    MBConvStage(6, 3, 2, 24, 2),
    MBConvStage(6, 5, 2, 40, 2),
    MBConvStage(6, 3, 2, 80, 3),
    MBConvStage(6, 5, 1, 112, 3),
    MBConvStage(6, 5, 2, 192, 4),
    MBConvStage(6, 3, 1, 320, 1),
)
#: EfficientNet-EdgeTPU-S (mmpretrain's 'e' table, timm's
#: ``efficientnet_es``): fused MBConv in the first three stages, no SE.
EDGETPU_S_STAGES: Tuple[MBConvStage, ...] = (
    MBConvStage(3, 3, 1, 24, 1, fused=True, se=False),
    MBConvStage(8, 3, 2, 32, 2, fused=True, se=False),
    MBConvStage(8, 3, 2, 48, 4, fused=True, se=False),
    MBConvStage(8, 5, 2, 96, 5, se=False),
    MBConvStage(8, 5, 1, 144, 4, se=False),
    MBConvStage(8, 5, 2, 192, 2, se=False),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
SE_RATIO = 0.25  # squeeze to 1/4 of the block's input channels


@dataclass(frozen=True)
class EfficientNetArch:
    """Compound scaling coefficients (Sec. 3.3, Eq. 3)."""
    width: float  # channel multiplier (beta ** phi, rounded as released)
    depth: float  # layer multiplier (alpha ** phi)
    resolution: int  # training/test image size (gamma ** phi * 224)
    edgetpu: bool = False  # the EdgeTPU table instead of Table 1


#: Preset name -> coefficients: b0 is Table 1, b1-b7 the released
#: compound-scaled models (paper Table 2), b8 and l2 the larger models of
#: the official repository (AdvProp / Noisy Student), as in mmpretrain and
#: timm; es/em/el EfficientNet-EdgeTPU S/M/L (mmpretrain's and timm's
#: coefficients; train them with ``act_cfg=dict(type='ReLU')``).
EFFICIENTNET_ARCHS: Dict[str, EfficientNetArch] = {
    'b0': EfficientNetArch(1.0, 1.0, 224),
    'b1': EfficientNetArch(1.0, 1.1, 240),
    'b2': EfficientNetArch(1.1, 1.2, 260),
    'b3': EfficientNetArch(1.2, 1.4, 300),
    'b4': EfficientNetArch(1.4, 1.8, 380),
    'b5': EfficientNetArch(1.6, 2.2, 456),
    'b6': EfficientNetArch(1.8, 2.6, 528),
    'b7': EfficientNetArch(2.0, 3.1, 600),
    'b8': EfficientNetArch(2.2, 3.6, 672),
    'l2': EfficientNetArch(4.3, 5.3, 800),
    'es': EfficientNetArch(1.0, 1.0, 224, edgetpu=True),
    'em': EfficientNetArch(1.0, 1.1, 240, edgetpu=True),
    'el': EfficientNetArch(1.2, 1.4, 300, edgetpu=True),
}


@dataclass(frozen=True)
class MBConvBlock:
    """One block after scaling."""
    in_channels: int
    out_channels: int
    mid_channels: int
    kernel_size: int
    stride: int
    fused: bool
    se: bool
    skip: bool = True  # identity shortcut when the shapes allow it


def _parse_arch(arch) -> EfficientNetArch:
    if isinstance(arch, EfficientNetArch):
        return arch
    if not isinstance(arch, (str, dict)):
        raise TypeError(f'arch must be one of {list(EFFICIENTNET_ARCHS)} or '
                        "a dict with 'width' and 'depth' (and optionally "
                        f"'resolution'), but got {arch!r}")
    arch = as_named_arch(arch, EFFICIENTNET_ARCHS,
                         required_keys=('width', 'depth'),
                         optional_keys=('resolution', ))
    if isinstance(arch, dict):
        arch = EfficientNetArch(
            check_positive_number('custom arch width', arch['width']),
            check_positive_number('custom arch depth', arch['depth']),
            check_positive_int('custom arch resolution',
                               arch.get('resolution', 224)))
    return arch


def scale_stages(arch: EfficientNetArch,
                 stages: Optional[Sequence[MBConvStage]] = None
                 ) -> List[List[MBConvBlock]]:
    """Compound scaling of Table 1, grouped into mmpretrain's layers.

    Width: every channel count becomes ``make_divisible(c * width, 8)``;
    depth: stage ``i`` gets ``ceil(depth * L_i)`` blocks, the first with the
    stage's stride. A Table-1 stage whose first block has stride 1 joins the
    previous layer (mmpretrain's grouping: 80 + 112 and 192 + 320 channels
    share a layer, so layer ``i`` ends at stride ``2 ** (i + 1)``), except
    the first.

    EdgeTPU's first stage (fused, expansion 3 of the 32-channel stem): its
    repeats (M, L) expand their input 4x and have no shortcut -- TF's
    EdgeTPU-M/L definition as mmpretrain builds it.
    """
    if stages is None:
        stages = (EDGETPU_S_STAGES
                  if arch.edgetpu else EFFICIENTNET_B0_STAGES)
    layers: List[List[MBConvBlock]] = []
    in_ch = make_divisible(STEM_CHANNELS * arch.width, 8)
    for i, stage in enumerate(stages):
        out_ch = make_divisible(stage.out_channels * arch.width, 8)
        blocks = []
        for j in range(int(math.ceil(arch.depth * stage.num_blocks))):
            expand, skip = stage.expand_ratio, True
            if stage.fused and j > 0 and expand == 3:
                expand, skip = 4, False
            blocks.append(MBConvBlock(in_ch, out_ch, int(in_ch * expand),
                                      stage.kernel_size,
                                      stage.stride if j == 0 else 1,
                                      stage.fused, stage.se, skip))
            in_ch = out_ch
        if i > 0 and stage.stride == 1:
            layers[-1].extend(blocks)
        else:
            layers.append(blocks)
    return layers


class EdgeResidual(nn.Module):
    """Fused MBConv of EfficientNet-EdgeTPU: the 1x1 expansion and the kxk
    depthwise conv of MBConv fused into one full kxk conv.

    kxk conv + BN + act (N, C_mid, H/s, W/s) -> optional SE -> 1x1 linear
    projection + BN (N, C_out, H/s, W/s) (+ x, with stochastic depth, when
    the shapes allow and ``with_residual``). mmpretrain's keys: ``conv1``,
    ``se``, ``conv2``.

    Example:
        >>> block = EdgeResidual(24, 24, 96)
        >>> block(torch.rand(1, 24, 8, 8)).shape
        torch.Size([1, 24, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 mid_channels: int,
                 kernel_size: int = 3,
                 stride: int = 1,
                 se: Optional[nn.Module] = None,
                 with_residual: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 drop_path_rate: float = 0.):
        super().__init__()
        self.with_res_shortcut = (with_residual and stride == 1
                                  and in_channels == out_channels)
        self.drop_path_rate = float(drop_path_rate)
        self.conv1 = conv_norm_act(in_channels, mid_channels, kernel_size,
                                   stride=stride, conv_cfg=conv_cfg,
                                   norm_cfg=norm_cfg, act_cfg=act_cfg)
        if se is not None:
            self.se = se
        self.conv2 = conv_norm_act(mid_channels, out_channels, 1,
                                   norm_cfg=norm_cfg, act_cfg=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        if hasattr(self, 'se'):
            out = self.se(out)
        out = self.conv2(out)
        if not self.with_res_shortcut:
            return out
        return residual_drop_path(x, out, self.drop_path_rate,
                                  self.training)


def _is_same_padding(conv_cfg: Optional[dict]) -> bool:
    return conv_cfg is not None and conv_cfg.get(
        'type') == 'Conv2dAdaptivePadding'


def _conv_cfg_for(conv_cfg: Optional[dict], kernel_size: int,
                  stride: int) -> Optional[dict]:
    """TensorFlow "SAME" padding is symmetric ``k // 2`` padding for odd
    kernels at stride 1: those convolutions are plain ``nn.Conv2d`` (same
    weights and keys, no ``F.pad`` per call); only strided ones keep
    mmcv's ``Conv2dAdaptivePadding`` (asymmetric padding on even sizes)."""
    if _is_same_padding(conv_cfg) and stride == 1 and kernel_size % 2:
        return None
    return conv_cfg


def _act(act_cfg: dict) -> dict:
    """Swish (x * sigmoid(x), mmcv's ``Swish``) is ``nn.SiLU``: one fused
    operator instead of two; any other activation is kept as given."""
    if act_cfg.get('type') == 'Swish':
        return dict(type='SiLU')
    return act_cfg


@MODELS.register_module()
class EfficientNet(BaseBackbone):
    """EfficientNet backbone (B0-B8, L2, EdgeTPU S/M/L).

    Stages (``out_indices``), as in mmpretrain's ``layers``: 0 the stem
    (3x3 conv, stride 2), 1-5 the MBConv layers (strides 2, 4, 8, 16, 32;
    layer 4 holds Table 1's 80- and 112-channel stages, layer 5 the 192-
    and 320-channel ones), 6 the final 1x1 conv (1280 channels for B0,
    stride 32), returned by default.

    ``frozen_stages`` follows mmbackbones (-1 none, 0 the stem
    ``layers.0``, ``i`` ``layers.0`` to ``layers.i``): mmpretrain's
    ``frozen_stages=i`` freezes ``layers.0`` to ``layers.{i-1}``, so its
    ``i`` is our ``i - 1`` (and its default 0 is our -1).

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        arch (str | dict): A preset of :data:`EFFICIENTNET_ARCHS` ('b0' to
            'b8', 'l2', EdgeTPU 'es', 'em', 'el'), or a dict with ``width``
            and ``depth`` multipliers (and optionally ``resolution``).
            Default: 'b0'.
        drop_path_rate (float): Stochastic depth rate of the last block,
            rising linearly from 0 over the blocks (mmpretrain's rule).
        conv_cfg (dict, optional): Convolution config. Default: mmcv's
            ``Conv2dAdaptivePadding`` (TensorFlow "SAME" padding, as
            mmpretrain and timm's ``tf_efficientnet_*``); ``None`` gives
            the symmetric padding of torchvision and timm's
            ``efficientnet_*``.
        norm_cfg (dict): Norm config. Default: BN with eps 1e-3.
        act_cfg (dict): Activation. Default: Swish (run as ``nn.SiLU``).

    Example:
        >>> import torch
        >>> model = EfficientNet(arch='b0', out_indices=(0, 1, 2, 3, 4, 5, 6))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 32, 32, 32), (1, 16, 32, 32), (1, 24, 16, 16), (1, 40, 8, 8), \
(1, 112, 4, 4), (1, 320, 2, 2), (1, 1280, 2, 2)]
    """

    def __init__(self,
                 arch: Union[str, dict] = 'b0',
                 drop_path_rate: float = 0.,
                 out_indices: Union[int, Sequence[int]] = (6, ),
                 conv_cfg: Optional[dict] = dict(
                     type='Conv2dAdaptivePadding'),
                 norm_cfg: dict = dict(type='BN', eps=1e-3),
                 act_cfg: dict = dict(type='Swish'),
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        check_rate('drop_path_rate', drop_path_rate)
        self.arch = arch
        self.arch_setting = _parse_arch(arch)
        self.drop_path_rate = drop_path_rate
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = _act(act_cfg)
        self.block_layers = scale_stages(self.arch_setting)

        stem_ch = self.block_layers[0][0].in_channels
        head_ch = make_divisible(HEAD_CHANNELS * self.arch_setting.width, 8)
        self.layers = nn.ModuleList(
            [self._conv(self.in_channels, stem_ch, 3, 2)])
        num_blocks = sum(len(layer) for layer in self.block_layers)
        # Stochastic depth: linear from 0 to drop_path_rate over the blocks.
        rates = iter([drop_path_rate * i / max(num_blocks - 1, 1)
                      for i in range(num_blocks)])
        channels, strides, stride = [stem_ch], [2], 2
        for layer in self.block_layers:
            self.layers.append(nn.Sequential(
                *(self._make_block(block, next(rates)) for block in layer)))
            stride *= math.prod(block.stride for block in layer)
            channels.append(layer[-1].out_channels)
            strides.append(stride)
        self.layers.append(self._conv(channels[-1], head_ch, 1, 1))
        channels.append(head_ch)
        strides.append(stride)
        self.feat_dim = head_ch
        # Outputs as mmpretrain's ``layers``: 0 the stem. Its frozen_stages
        # counts layers, not stages: k freezes layers.0..layers.{k-1}
        # (0: nothing, 1: the stem).
        stages = [self.blocks(f'layers.{i}')
                  for i in range(1, len(self.layers) - 1)] + [
                      [f'layers.{len(self.layers) - 1}']]  # the 1x1 head conv
        self.declare_stages(stem=['layers.0'], stages=stages,
                            channels=channels, strides=strides,
                            stem_is_output=True,
                            freeze_units=[[], ['layers.0'], *stages])

    def _conv(self, in_ch: int, out_ch: int, kernel_size: int,
              stride: int) -> nn.Module:
        return conv_norm_act(
            in_ch, out_ch, kernel_size, stride=stride,
            conv_cfg=_conv_cfg_for(self.conv_cfg, kernel_size, stride),
            norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def _make_block(self, block: MBConvBlock,
                    drop_path_rate: float) -> nn.Module:
        se = None
        if block.se:
            se = mmpretrain_se_layer(
                block.mid_channels,
                max(1, int(block.in_channels * SE_RATIO)),
                act_cfg=self.act_cfg)
        # SAME and symmetric padding differ only at strided convolutions:
        # a stride-1 block is built with plain convolutions.
        common = dict(
            se=se, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
            drop_path_rate=drop_path_rate,
            conv_cfg=_conv_cfg_for(self.conv_cfg, block.kernel_size,
                                   block.stride))
        if block.fused:
            return EdgeResidual(
                block.in_channels, block.out_channels, block.mid_channels,
                block.kernel_size, block.stride, with_residual=block.skip,
                **common)
        return InvertedResidual(
            block.in_channels, block.out_channels, block.mid_channels,
            block.kernel_size, block.stride, **common)
