"""The inverted residual block of MobileNetV2 / V3 (and EfficientNet).

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks"
(CVPR 2018), Table 1; Howard et al., "Searching for MobileNetV3" (ICCV 2019),
Fig. 4 (the same block with an optional squeeze-and-excitation after the
depthwise convolution):

    x (N, C_in, H, W)
      -> 1x1 expand conv + BN + act     (N, C_mid, H, W)  if C_mid != C_in
      -> kxk depthwise conv + BN + act  (N, C_mid, H/s, W/s)
      -> squeeze-and-excitation         (N, C_mid, H/s, W/s)  optional
      -> 1x1 linear projection + BN     (N, C_out, H/s, W/s)
      (+ x when s == 1 and C_in == C_out)

The projection has no activation: the "linear bottleneck" (V2 Sec. 3.2).
EfficientNet (Tan & Le, 2019) trains the block with stochastic depth on the
residual branch (``drop_path_rate``).
"""
from typing import Optional

import torch
import torch.nn as nn

from ..base import check_rate
from .conv import conv_norm_act

__all__ = ['InvertedResidual', 'residual_drop_path']


def residual_drop_path(x: torch.Tensor, out: torch.Tensor, rate: float,
                       training: bool) -> torch.Tensor:
    """``x + out`` with stochastic depth on ``out`` while training.

    As mmcv's ``drop_path`` (a per-sample Bernoulli keep mask scaled by
    1 / keep), fused with the residual sum: one pass over the map instead
    of mmcv's div, mul and add.
    """
    if rate > 0 and training:
        keep = 1.0 - rate
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.dim() - 1))
        return torch.addcmul(x, out, mask.bernoulli_(keep).div_(keep))
    return x + out


class InvertedResidual(nn.Module):
    """Expand 1x1 -> depthwise kxk -> optional SE -> project 1x1 (+ input).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        mid_channels (int): Channels of the depthwise convolution; the
            expansion convolution is left out when it equals
            ``in_channels`` (MobileNetV2's t=1 blocks, MobileNetV3's first).
        kernel_size (int): Depthwise kernel size (odd).
        stride (int): Depthwise stride, 1 or 2.
        se (nn.Module, optional): Squeeze-and-excitation applied to the
            depthwise output (see :func:`~.se.mmpretrain_se_layer`).
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config.
        act_cfg (dict): Activation after the expansion and the depthwise
            convolutions (the projection is linear).
        layout (str): Checkpoint keys. ``'named'`` (mmpretrain's
            ``InvertedResidual``, used by its MobileNetV3): ``expand_conv``,
            ``depthwise_conv``, ``se``, ``linear_conv``. ``'sequential'``
            (mmpretrain's MobileNetV2 block): the same layers in a
            Sequential ``conv`` (``conv.0``, ``conv.1``, ...).

    Example:
        >>> block = InvertedResidual(24, 24, mid_channels=144)
        >>> block(torch.rand(1, 24, 8, 8)).shape
        torch.Size([1, 24, 8, 8])
        >>> block = InvertedResidual(24, 32, 144, stride=2,
        ...                          layout='sequential')
        >>> block(torch.rand(1, 24, 8, 8)).shape
        torch.Size([1, 32, 4, 4])
    """

    LAYOUTS = ('named', 'sequential')

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 mid_channels: int,
                 kernel_size: int = 3,
                 stride: int = 1,
                 se: Optional[nn.Module] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 layout: str = 'named',
                 drop_path_rate: float = 0.):
        super().__init__()
        # a float, not a module: forward() runs the children in order
        self.drop_path_rate = float(check_rate('drop_path_rate',
                                               drop_path_rate))
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, but got {stride}')
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError('kernel_size must be a positive odd int, but '
                             f'got {kernel_size}')
        if layout not in self.LAYOUTS:
            raise ValueError(f'layout must be one of {self.LAYOUTS}, but got '
                             f'{layout!r}')
        self.with_res_shortcut = stride == 1 and in_channels == out_channels
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        layers = []
        if mid_channels != in_channels:
            layers.append(('expand_conv',
                           conv_norm_act(in_channels, mid_channels, 1,
                                         act_cfg=act_cfg, **common)))
        layers.append(('depthwise_conv',
                       conv_norm_act(mid_channels, mid_channels, kernel_size,
                                     stride=stride, groups=mid_channels,
                                     act_cfg=act_cfg, **common)))
        if se is not None:
            layers.append(('se', se))
        layers.append(('linear_conv',
                       conv_norm_act(mid_channels, out_channels, 1,
                                     act_cfg=None, **common)))
        if layout == 'sequential':
            self.conv = nn.Sequential(*(m for _, m in layers))
            keys = [f'conv.{i}' for i in range(len(layers))]
        else:
            for name, module in layers:
                self.add_module(name, module)
            keys = [name for name, _ in layers]
        #: Layer name -> its key prefix in this layout, in data-flow order
        #: (``{'expand_conv': 'conv.0', ...}``), for weight converters.
        self.layer_keys = dict(zip((name for name, _ in layers), keys))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.children():  # the layers, in data-flow order
            out = layer(out)
        if not self.with_res_shortcut:
            return out
        return residual_drop_path(x, out, self.drop_path_rate,
                                  self.training)
