"""Residual blocks and stages shared by ResNet (and every family built on
it), HRNet and CSPNet (He et al., "Deep Residual Learning for Image
Recognition", CVPR 2016).

* :class:`ResidualBlock` -- ``act(residual(x) + shortcut(x))``;
  :class:`BasicBlock` and :class:`Bottleneck` fill in ``residual``, and a
  family changes a bottleneck by overriding its middle (the 3x3 part:
  split attention, hierarchical 3x3 convolutions) or by wrapping its
  residual (squeeze-and-excitation);
* :func:`make_res_layer` -- one stage: a projection shortcut on the first
  block (option B of the paper, :func:`make_downsample`; average-pooled in
  the "D" variant) and ``num_blocks`` blocks;
* ``zero_init_residual``: :class:`ZeroInitResidualMixin` gives a backbone
  the argument's behaviour; :func:`zero_init_residual_blocks` is the step.

Module names are mmpretrain's (``conv1``, ``bn1``, ..., ``downsample``), so
its checkpoints load as they are.
"""
from typing import List, Optional, Sequence, Type, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer
from mmcv.cnn.bricks import DropPath

from .conv import add_conv_norm, conv_norm, norm_property

__all__ = [
    'ResidualBlock', 'BasicBlock', 'Bottleneck', 'make_res_layer',
    'make_downsample', 'zero_init_residual_blocks', 'ZeroInitResidualMixin'
]


class ResidualBlock(nn.Module):
    """What every residual block shares: ``act(residual(x) + shortcut(x))``.

    Subclasses build their layers in ``__init__`` (after calling this one)
    and implement :meth:`residual`. Norm layers are named as mmcv's
    ``build_norm_layer`` names them (``bn1``, ``gn1``...), with ``norm1``
    ... properties, as in mmpretrain.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expansion (int, optional): ``out_channels / mid_channels``; the
            class's ``expansion`` when None.
        stride (int): Stride of the block.
        dilation (int): Dilation of the 3x3 convolution.
        downsample (nn.Module, optional): Projection of the shortcut when
            the shape changes; identity when None.
        style (str): ``'pytorch'`` puts the stride on the 3x3 convolution
            (ResNet v1.5), ``'caffe'`` on the first 1x1 (the paper's).
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config.
        act_cfg (dict): Activation config.
        drop_path_rate (float): Stochastic depth of the residual branch.
    """

    expansion: int = 1

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 expansion: Optional[int] = None,
                 stride: int = 1,
                 dilation: int = 1,
                 downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 drop_path_rate: float = 0.0):
        super().__init__()
        if style not in ('pytorch', 'caffe'):
            raise ValueError(
                f"style must be 'pytorch' or 'caffe', but got {style!r}")
        expansion = type(self).expansion if expansion is None else expansion
        if out_channels % expansion:
            raise ValueError(f'out_channels={out_channels} is not divisible '
                             f'by expansion={expansion}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.expansion = expansion
        self.mid_channels = out_channels // expansion
        self.stride = stride
        self.dilation = dilation
        self.style = style
        # Where the stride goes: the 3x3 (pytorch) or the first 1x1 (caffe).
        self.conv1_stride, self.conv2_stride = ((1, stride) if style ==
                                                'pytorch' else (stride, 1))
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.relu = build_activation_layer(act_cfg)
        self.downsample = downsample
        self.drop_path = (DropPath(drop_path_rate)
                          if drop_path_rate > 0 else None)

    def add_conv_norm(self, index: int, in_channels: int, out_channels: int,
                      kernel_size: int, **kwargs) -> str:
        """``conv{index}`` and ``bn{index}`` with the block's configs (see
        :func:`~mmbackbones.models.layers.conv.add_conv_norm`; ``kwargs``:
        ``stride``, ``dilation``, ``groups``, ``conv_cfg``)."""
        kwargs.setdefault('conv_cfg', self.conv_cfg)
        return add_conv_norm(self, index, in_channels, out_channels,
                             kernel_size, norm_cfg=self.norm_cfg, **kwargs)

    norm1 = norm_property(1)
    norm2 = norm_property(2)

    @property
    def last_norm(self) -> nn.Module:
        """The norm closing the residual branch (zero-initialised with
        ``zero_init_residual``: the block then starts as the identity)."""
        raise NotImplementedError

    def zero_init_last(self) -> None:
        """Zero the closing norm's scale and shift: the residual branch
        then outputs zero and the block starts as the identity."""
        norm = self.last_norm
        if getattr(norm, 'weight', None) is not None:
            nn.init.zeros_(norm.weight)
            nn.init.zeros_(norm.bias)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.residual(x)
        if self.drop_path is not None:
            out = self.drop_path(out)
        out += identity  # in place: the branch output is ours to reuse
        return self.relu(out)


class BasicBlock(ResidualBlock):
    """Two 3x3 convolutions (paper Fig. 5 left; ResNet-18/34).

    Keys: ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``downsample``.

    Example:
        >>> block = BasicBlock(64, 64)
        >>> block(torch.rand(1, 64, 8, 8)).shape
        torch.Size([1, 64, 8, 8])
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        if self.expansion != 1:
            raise ValueError('BasicBlock has no bottleneck: expansion must '
                             f'be 1, but got {self.expansion}')
        mid = self.mid_channels
        self.add_conv_norm(1, in_channels, mid, 3, stride=self.stride,
                           dilation=self.dilation)
        self.add_conv_norm(2, mid, out_channels, 3)

    @property
    def last_norm(self) -> nn.Module:
        return self.norm2

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        return self.norm2(self.conv2(out))


class Bottleneck(ResidualBlock):
    """1x1 reduce -> 3x3 -> 1x1 expand (paper Fig. 5 right; ResNet-50+).

    With ``groups > 1`` the 3x3 convolution is grouped and the bottleneck
    is ``groups * width_per_group`` channels wide in the first stage
    (ResNeXt, Xie et al. 2017, Fig. 3c), doubling with every stage.

    Families change the middle (:meth:`make_middle` / :meth:`middle`) or
    the width (:meth:`bottleneck_channels`); everything else is shared.

    Keys: ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``conv3``, ``bn3``,
    ``downsample``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (4x the bottleneck by default).
        groups (int): Groups of the 3x3 convolution (ResNeXt cardinality).
        width_per_group (int): Channels per group in the first stage (used
            when ``groups > 1``).
        base_channels (int): Bottleneck width of the first stage of the
            network, to scale ``width_per_group`` to this stage.
        **kwargs: :class:`ResidualBlock` arguments.

    Example:
        >>> block = Bottleneck(256, 512, stride=2, groups=32,
        ...                    downsample=make_downsample(256, 512, 2))
        >>> block(torch.rand(1, 256, 8, 8)).shape, block.mid_channels
        (torch.Size([1, 512, 4, 4]), 256)
    """

    expansion = 4

    # Keyword-only after the channels: ResidualBlock's third positional
    # argument is expansion, so Bottleneck(64, 256, 2) must not mean groups.
    def __init__(self, in_channels: int, out_channels: int, *,
                 groups: int = 1,
                 width_per_group: int = 4,
                 base_channels: int = 64,
                 dcn: Optional[dict] = None,
                 **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        # mmdet's deformable 3x3 (e.g. dict(type='DCNv2',
        # deform_groups=1)); ResNet checks that full mmcv's ops exist.
        self.dcn = dcn
        self.groups = groups
        self.width_per_group = width_per_group
        mid = self.bottleneck_channels(groups, width_per_group, base_channels)
        self.mid_channels = mid
        self.add_conv_norm(1, in_channels, mid, 1, stride=self.conv1_stride)
        self.make_middle(mid, groups)
        self.add_conv_norm(3, mid, out_channels, 1)

    def bottleneck_channels(self, groups: int, width_per_group: int,
                            base_channels: int) -> int:
        """Channels between the two 1x1 convolutions."""
        if groups == 1:
            return self.mid_channels
        # ResNeXt: C groups of d channels in the first stage ("32x4d"),
        # scaled like the stage's plain width.
        if self.mid_channels % base_channels:
            raise ValueError(f'the bottleneck width {self.mid_channels} is '
                             f'not a multiple of base_channels='
                             f'{base_channels}')
        return groups * width_per_group * self.mid_channels // base_channels

    def make_middle(self, channels: int, groups: int) -> None:
        """The 3x3 part: ``conv2`` (mmdet's deformable one with ``dcn``)
        and ``bn2``."""
        self.add_conv_norm(2, channels, channels, 3,
                           stride=self.conv2_stride, dilation=self.dilation,
                           groups=groups,
                           conv_cfg=self.dcn or self.conv_cfg)

    def middle(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.norm2(self.conv2(x)))

    norm3 = norm_property(3)

    @property
    def last_norm(self) -> nn.Module:
        return self.norm3

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.middle(out)
        return self.norm3(self.conv3(out))


def zero_init_residual_blocks(module: nn.Module) -> None:
    """Zero the last layer of every residual block in ``module`` (every
    submodule with a ``zero_init_last()`` method, timm's name: the
    :class:`ResidualBlock` subclasses, ResNetV2's pre-activation units):
    each block then starts as the identity (``zero_init_residual``, Goyal
    et al. 2017, Sec. 5.1), its residual branch scaled by zero."""
    for m in module.modules():
        if m is not module and callable(getattr(m, 'zero_init_last', None)):
            m.zero_init_last()


class ZeroInitResidualMixin:
    """``zero_init_residual`` for a backbone: after ``init_cfg``, every
    residual block in :meth:`zero_init_scope` starts as the identity --
    but not over loaded weights, whether ``init_cfg`` is a ``Pretrained``
    dict or a list holding one (mmpretrain only checked a dict).

    Put it before the base class (``class ResNet(ZeroInitResidualMixin,
    BaseBackbone)``) and set ``self.zero_init_residual`` in ``__init__``.
    """

    zero_init_residual: bool = False

    def zero_init_scope(self) -> List[nn.Module]:
        """The modules whose blocks are zero-initialised: the whole
        backbone (HRNet: its HR modules only, as mmpretrain's)."""
        return [self]

    def init_weights(self) -> None:
        super().init_weights()
        if self.zero_init_residual and self.pretrained_cfg is None:
            for module in self.zero_init_scope():
                zero_init_residual_blocks(module)


def make_downsample(in_channels: int,
                    out_channels: int,
                    stride: int = 1,
                    avg_down: bool = False,
                    conv_cfg: Optional[dict] = None,
                    norm_cfg: dict = dict(type='BN'),
                    keep_pool_slot: bool = False) -> nn.Sequential:
    """The projection shortcut (paper option B): 1x1 conv + norm.

    With ``avg_down`` a strided shortcut averages 2x2 windows first and
    keeps the 1x1 convolution at stride 1, so it sees every pixel ("ResNet-
    D", Bag of Tricks, He et al. 2019, Fig. 2c). ``keep_pool_slot`` puts an
    identity where the pool would be when the stride is 1, so keys stay
    ``downsample.1``/``.2`` (Res2Net's layout).
    """
    pool: List[nn.Module] = []
    conv_stride = stride
    if avg_down and stride != 1:
        pool.append(nn.AvgPool2d(stride, stride, ceil_mode=True,
                                 count_include_pad=False))
        conv_stride = 1
    elif avg_down and keep_pool_slot:
        pool.append(nn.Identity())
    return nn.Sequential(*pool, *conv_norm(
        in_channels, out_channels, 1, stride=conv_stride, conv_cfg=conv_cfg,
        norm_cfg=norm_cfg))


def make_res_layer(block: Type[ResidualBlock],
                   num_blocks: int,
                   in_channels: int,
                   out_channels: int,
                   stride: int = 1,
                   avg_down: bool = False,
                   conv_cfg: Optional[dict] = None,
                   norm_cfg: dict = dict(type='BN'),
                   drop_path_rates: Union[float, Sequence[float]] = 0.0,
                   keep_pool_slot: bool = False,
                   first_block_kwargs: Optional[dict] = None,
                   **block_kwargs) -> nn.Sequential:
    """One stage: ``num_blocks`` blocks, the first one strided and with a
    projection shortcut when the shape changes.

    Args:
        block: The block class.
        num_blocks: Blocks in the stage.
        in_channels / out_channels: Channels in and out of the stage.
        stride: Stride of the first block.
        avg_down: Average-pool in the shortcut (see
            :func:`make_downsample`).
        drop_path_rates: One stochastic-depth rate per block, or one for
            all.
        keep_pool_slot: See :func:`make_downsample`.
        first_block_kwargs: Extra arguments of the first block only.
        **block_kwargs: Arguments of every block (dilation, style, groups,
            ...).

    Example:
        >>> stage = make_res_layer(Bottleneck, 3, 64, 256)
        >>> stage(torch.rand(1, 64, 8, 8)).shape
        torch.Size([1, 256, 8, 8])
    """
    if isinstance(drop_path_rates, (int, float)):
        drop_path_rates = [float(drop_path_rates)] * num_blocks
    if len(drop_path_rates) != num_blocks:
        raise ValueError(f'{len(drop_path_rates)} drop_path_rates for '
                         f'{num_blocks} blocks')
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = make_downsample(in_channels, out_channels, stride,
                                     avg_down, conv_cfg, norm_cfg,
                                     keep_pool_slot)
    # One dilation for all blocks, or one per block (mmseg's multi_grid
    # and contract_dilation).
    dilation = block_kwargs.pop('dilation', 1)
    dilations = ([dilation] * num_blocks if isinstance(dilation, int) else
                 list(dilation))
    if len(dilations) != num_blocks:
        raise ValueError(f'{len(dilations)} dilations for {num_blocks} '
                         'blocks')
    common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, **block_kwargs)
    blocks = [
        block(in_channels, out_channels, stride=stride,
              downsample=downsample, drop_path_rate=drop_path_rates[0],
              dilation=dilations[0], **common,
              **(first_block_kwargs or {}))
    ]
    for rate, block_dilation in zip(drop_path_rates[1:], dilations[1:]):
        blocks.append(
            block(out_channels, out_channels, drop_path_rate=rate,
                  dilation=block_dilation, **common))
    return nn.Sequential(*blocks)
