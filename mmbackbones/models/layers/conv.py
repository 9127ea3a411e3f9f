"""The package's conv + norm builder, in the three key layouts checkpoints
use, and a conv + ReLU that fuses the two for CPU inference.

Every convolution followed by a norm layer is built here, so padding ("same"
for odd kernels), the missing bias and the norm's name are decided once:

* :func:`conv_norm_act` -- mmcv's ``ConvModule`` (keys ``conv``, ``bn``);
* :func:`conv_norm` -- ``Sequential(conv, norm[, act])`` (keys ``0``,
  ``1``: HRNet's transitions and fusions, ResNet's projection shortcuts);
* :func:`add_conv_norm` -- attributes ``conv{i}`` and ``bn{i}`` of a block
  or a stem (mmpretrain's ResNet and HRNet), read back through
  :func:`norm_property`.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import (ConvModule, build_activation_layer, build_conv_layer,
                      build_norm_layer)

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


def conv_and_norm(in_channels: int, out_channels: int, kernel_size: int,
                  *, conv_cfg: Optional[dict] = None,
                  norm_cfg: dict = DEFAULT_NORM,
                  postfix: Union[int, str] = '',
                  **conv_args) -> Tuple[nn.Module, str, nn.Module]:
    """A bias-free, "same"-padded convolution and the norm after it.

    Args:
        in_channels, out_channels, kernel_size: Of the convolution.
        conv_cfg (dict, optional): mmcv's conv config (None: ``Conv2d``;
            mmdet's ``dict(type='DCNv2', ...)`` for a deformable one).
        norm_cfg (dict): mmcv's norm config.
        postfix (int | str): Appended to the norm's name.
        **conv_args: ``stride``, ``dilation``, ``groups`` (the padding is
            ``dilation * (kernel_size - 1) // 2``).

    Returns ``(conv, norm_name, norm)``; ``norm_name`` is mmcv's name for
    the norm type plus ``postfix`` (``bn1``, ``gn1``...). The conv has no
    bias: the norm's shift makes it redundant.
    """
    padding = conv_args.get('dilation', 1) * (kernel_size - 1) // 2
    conv = build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size,
                            padding=padding, bias=False, **conv_args)
    name, norm = build_norm_layer(norm_cfg, out_channels, postfix=postfix)
    return conv, name, norm


def conv_norm(in_channels: int, out_channels: int, kernel_size: int,
              *, act_cfg: Optional[dict] = None,
              **kwargs) -> nn.Sequential:
    """``Sequential(conv, norm[, act])``: keys ``.0``, ``.1`` (``.2``);
    ``kwargs``: those of :func:`conv_and_norm`.

    Example:
        >>> layer = conv_norm(8, 16, 3, stride=2, act_cfg=dict(type='ReLU'))
        >>> [type(m).__name__ for m in layer]
        ['Conv2d', 'BatchNorm2d', 'ReLU']
    """
    conv, _, norm = conv_and_norm(in_channels, out_channels, kernel_size,
                                  **kwargs)
    layers = [conv, norm]
    if act_cfg is not None:
        layers.append(build_activation_layer(act_cfg))
    return nn.Sequential(*layers)


def add_conv_norm(owner: nn.Module, index: int, in_channels: int,
                  out_channels: int, kernel_size: int, **kwargs) -> str:
    """Add ``conv{index}`` and its norm (``bn{index}``, named by mmcv) to
    ``owner``, in that order; set ``owner.norm{index}_name`` to the norm's
    name (read by :func:`norm_property`) and return it.

    ``kwargs``: those of :func:`conv_and_norm` (``conv_cfg``,
    ``norm_cfg``, ``stride``, ``dilation``, ``groups``).

    Example:
        >>> block = nn.Module()
        >>> add_conv_norm(block, 1, 3, 8, 3, stride=2)
        'bn1'
        >>> [name for name, _ in block.named_children()]
        ['conv1', 'bn1']
    """
    conv, name, norm = conv_and_norm(in_channels, out_channels, kernel_size,
                                     postfix=index, **kwargs)
    owner.add_module(f'conv{index}', conv)
    owner.add_module(name, norm)
    setattr(owner, f'norm{index}_name', name)
    return name


def norm_property(index: int) -> property:
    """The property ``norm{index}``: the norm layer whose name
    ``self.norm{index}_name`` holds (mmcv names norms by type: ``bn1``,
    ``gn1``..., so mmpretrain's blocks read them through such names).

    Example:
        >>> class Block(nn.Module):
        ...     norm1 = norm_property(1)
        >>> block = Block()
        >>> _ = add_conv_norm(block, 1, 3, 8, 3)
        >>> type(block.norm1).__name__
        'BatchNorm2d'
    """

    def get(self) -> nn.Module:
        return getattr(self, getattr(self, f'norm{index}_name'))

    return property(get, doc=f'The norm layer ``norm{index}_name`` names.')


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
