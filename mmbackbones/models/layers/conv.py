"""Conv-norm-act, on mmcv's ConvModule (module keys ``conv``, ``bn``), and
a conv + ReLU that fuses the two for CPU inference."""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from .packed_conv import conv2d_act

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
                  act_cfg: Optional[dict] = DEFAULT_ACT,
                  bias: Union[bool, str] = 'auto') -> ConvModule:
    """A ConvModule with "same" padding for odd kernels by default.

    The convolution has no bias when a norm layer follows (the norm's shift
    makes it redundant) unless ``bias=True`` (to load weights ported from
    Caffe, which have both). ``act_cfg=None`` leaves out the activation.

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
        act_cfg=act_cfg,
        bias=bias)


def conv2d_relu(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``relu(conv(x))``; on CPU without autograd, one oneDNN convolution
    with the ReLU as its post-op.

    The fused call writes the activation once instead of writing it and
    then reading and writing it again for the ReLU: RepVGG-A0's deploy form
    (a stack of 3x3 conv + ReLU) runs 6-7% faster with it (batch 8, 224 px,
    2 threads, channels_last); the weight is packed once
    (:mod:`~mmbackbones.models.layers.packed_conv`). Anywhere else --
    training, GPU, other dtypes, autocast, a conv that is not a plain
    ``nn.Conv2d``, tracing for export -- it is the plain conv followed by
    an in-place ReLU.

    Example:
        >>> import torch
        >>> conv = nn.Conv2d(3, 8, 3, padding=1)
        >>> x = torch.rand(1, 3, 8, 8)
        >>> with torch.no_grad():
        ...     fused = conv2d_relu(conv, x)
        >>> torch.allclose(fused, torch.relu(conv(x)), atol=1e-6)
        True
    """
    return conv2d_act(conv, x, 'relu')
