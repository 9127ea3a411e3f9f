"""Conv-norm-act, on mmcv's ConvModule (module keys ``conv``, ``bn``)."""
from typing import Optional

from mmcv.cnn import ConvModule

DEFAULT_NORM = dict(type='BN')
DEFAULT_ACT = dict(type='ReLU')


def conv_norm_act(in_channels: int,
                  out_channels: int,
                  kernel_size: int,
                  stride: int = 1,
                  groups: int = 1,
                  dilation: int = 1,
                  padding: Optional[int] = None,
                  conv_cfg: Optional[dict] = None,
                  norm_cfg: Optional[dict] = DEFAULT_NORM,
                  act_cfg: Optional[dict] = DEFAULT_ACT) -> ConvModule:
    """A ConvModule with "same" padding for odd kernels by default.

    The convolution has no bias when a norm layer follows (the norm's shift
    makes it redundant). ``act_cfg=None`` leaves out the activation.

    Example:
        >>> import torch
        >>> layer = conv_norm_act(3, 8, 3, stride=2)
        >>> layer(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 8, 16, 16])
    """
    if padding is None:
        padding = dilation * (kernel_size - 1) // 2
    return ConvModule(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        conv_cfg=conv_cfg,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg)
