"""Conv-norm-act, on mmcv's ConvModule (module keys ``conv``, ``bn``), and
a conv + ReLU that fuses the two for CPU inference."""
from typing import Optional, Union

import torch
import torch.nn as nn
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


def _onednn_conv_relu():
    """PyTorch's oneDNN convolution with a fused post-op (the kernel
    ``torch.compile`` uses on CPU), or None where this build lacks it."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._convolution_pointwise
    except (AttributeError, RuntimeError):
        return None


_CONV_POINTWISE = _onednn_conv_relu()


def _fusable(conv: nn.Module, x: torch.Tensor) -> bool:
    # tracers (ONNX export, TorchScript, torch.compile, torch.fx) must see
    # the plain conv and ReLU; checked first so they never evaluate the rest
    if (isinstance(x, torch.fx.Proxy) or torch.jit.is_tracing()
            or torch.jit.is_scripting() or torch.compiler.is_compiling()):
        return False
    return (_CONV_POINTWISE is not None
            and torch.backends.mkldnn.enabled
            and type(conv) is nn.Conv2d
            and conv.padding_mode == 'zeros'
            and not isinstance(conv.padding, str)
            and x.device.type == 'cpu' and x.dim() == 4 and x.numel() > 0
            and x.dtype == torch.float32
            and conv.weight.dtype == torch.float32
            # autocast would run the plain conv in bfloat16
            and not torch.is_autocast_enabled('cpu')
            # the fused op has no autograd formula
            and not (torch.is_grad_enabled() and
                     (x.requires_grad or conv.weight.requires_grad)))


def conv2d_relu(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``relu(conv(x))``; on CPU without autograd, one oneDNN convolution
    with the ReLU as its post-op.

    The fused call writes the activation once instead of writing it and
    then reading and writing it again for the ReLU: RepVGG-A0's deploy form
    (a stack of 3x3 conv + ReLU) runs 6-7% faster with it (batch 8, 224 px,
    2 threads, channels_last). Anywhere else -- training, GPU, other dtypes,
    autocast, a conv that is not a plain ``nn.Conv2d``, tracing for export
    -- it is the plain conv followed by an in-place ReLU.

    Example:
        >>> import torch
        >>> conv = nn.Conv2d(3, 8, 3, padding=1)
        >>> x = torch.rand(1, 3, 8, 8)
        >>> with torch.no_grad():
        ...     fused = conv2d_relu(conv, x)
        >>> torch.allclose(fused, torch.relu(conv(x)), atol=1e-6)
        True
    """
    if _fusable(conv, x):
        return _CONV_POINTWISE(x, conv.weight, conv.bias, conv.padding,
                               conv.stride, conv.dilation, conv.groups,
                               'relu', [None], '')
    return torch.relu_(conv(x))
