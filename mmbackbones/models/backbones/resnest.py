"""ResNeSt (Zhang et al., "ResNeSt: Split-Attention Networks", CVPR-W
2022): ResNet-D whose bottleneck 3x3 convolution is a split-attention
convolution (paper Fig. 2), with the stride taken by a 3x3 average pool
after it ("avd"). The block is :class:`~.resnet.Bottleneck` with another
middle; the network is :class:`~.resnet.ResNetV1d` with another table.
"""
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer

from mmbackbones.registry import MODELS
from ..base import check_positive_int
from ..layers.conv import norm_property
from ..layers.pooled_conv import PooledConv1x1
from ..layers.utils import spatial_mean
from .resnet import Bottleneck, ResNetArch, ResNetV1d
from .resnext import ResNeXt

__all__ = [
    'ResNeSt', 'SplitAttentionConv2d', 'SplitAttentionBottleneck',
    'RESNEST_ARCHS', 'radix_softmax'
]


def radix_softmax(x: torch.Tensor, radix: int, groups: int) -> torch.Tensor:
    """Attention weights over the ``radix`` splits (paper Eq. 3).

    ``x`` (N, groups * radix * C', 1, 1), ordered (groups, radix, C') by the
    grouped fc2, becomes (N, radix * groups * C'), ordered (radix, groups,
    C') like the splits it weighs; a sigmoid gate when ``radix == 1``.
    """
    n = x.shape[0]
    if radix == 1:
        return torch.sigmoid(x).reshape(n, -1)
    x = x.view(n, groups, radix, -1).transpose(1, 2)
    return torch.softmax(x, dim=1).reshape(n, -1)


class SplitAttentionConv2d(nn.Module):
    """Split-attention convolution (paper Fig. 4).

    A grouped convolution makes ``radix`` splits of ``channels`` channels;
    their sum is pooled, squeezed (fc1, norm, ReLU) and expanded (fc2) to
    one softmax weight per split and channel; the output is the weighted
    sum of the splits.

    Keys (mmpretrain's and timm's): ``conv``, ``bn0``, ``fc1``, ``bn1``,
    ``fc2``.

    Example:
        >>> conv = SplitAttentionConv2d(64, 64, 3, padding=1, radix=2)
        >>> conv(torch.rand(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 kernel_size: int,
                 stride: int = 1,
                 padding: int = 0,
                 dilation: int = 1,
                 groups: int = 1,
                 radix: int = 2,
                 reduction_factor: int = 4,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        # The attention's hidden width: in * radix / 4, at least 32.
        inter_channels = max(in_channels * radix // reduction_factor, 32)
        self.radix = radix
        self.groups = groups
        self.channels = channels
        self.conv = build_conv_layer(
            conv_cfg, in_channels, channels * radix, kernel_size,
            stride=stride, padding=padding, dilation=dilation,
            groups=groups * radix, bias=False)
        self.norm0_name, norm0 = build_norm_layer(norm_cfg, channels * radix,
                                                  postfix=0)
        self.add_module(self.norm0_name, norm0)
        self.relu = nn.ReLU(inplace=True)
        # Matrix products on the pooled vector (see PooledConv1x1).
        self.fc1 = PooledConv1x1(channels, inter_channels, groups=groups)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, inter_channels,
                                                  postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.fc2 = PooledConv1x1(inter_channels, channels * radix,
                                 groups=groups)

    norm0 = norm_property(0)
    norm1 = norm_property(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.norm0(self.conv(x)))  # (N, radix * C, H, W)
        n = x.shape[0]
        # Pooled sum of the splits = sum of the pooled splits: one read of
        # x, no (N, C, H, W) temporary. (Sizes by index, not *x.shape: fx
        # cannot unpack a traced shape; not unflatten: the ONNX exporter
        # bakes its batch size in.)
        gap = spatial_mean(x, keepdim=False)
        if self.radix > 1:
            gap = gap.view(n, self.radix, self.channels).sum(dim=1)
        gap = gap.view(n, self.channels, 1, 1)
        attention = self.fc2(self.relu(self.norm1(self.fc1(gap))))
        attention = radix_softmax(attention, self.radix, self.groups)
        attention = attention.view(n, -1, 1, 1)
        if self.radix == 1:
            return x * attention
        # The weighted sum split by split keeps x's memory format (a sum
        # over a 5-D view of a channels_last x came out contiguous) and
        # makes no (N, radix * C, H, W) temporary. split(), not slices:
        # its backward is one cat in the splits' format, a slice's a
        # zero-filled contiguous tensor per split. Indexed, not iterated:
        # fx cannot iterate a traced tuple.
        splits = x.split(self.channels, dim=1)
        weights = attention.split(self.channels, dim=1)
        out = splits[0] * weights[0]
        for r in range(1, self.radix):
            out = torch.addcmul(out, splits[r], weights[r])
        return out


class SplitAttentionBottleneck(Bottleneck):
    """Bottleneck with a split-attention 3x3 convolution.

    With ``avg_down_stride`` a strided block runs the split attention at
    stride 1 and downsamples with a 3x3 average pool (``avd_layer``) after
    it, so no pixel is skipped.

    Keys: ``conv1``, ``bn1``, ``conv2`` (:class:`SplitAttentionConv2d`),
    ``conv3``, ``bn3``, ``downsample``.

    Example:
        >>> block = SplitAttentionBottleneck(256, 256, radix=2)
        >>> block(torch.rand(2, 256, 8, 8)).shape
        torch.Size([2, 256, 8, 8])
    """

    # Keyword-only after the channels, like Bottleneck's arguments.
    def __init__(self, in_channels: int, out_channels: int, *,
                 radix: int = 2,
                 reduction_factor: int = 4,
                 avg_down_stride: bool = True,
                 **kwargs):
        # Read by make_middle() while Bottleneck.__init__ builds the block.
        self.radix = radix
        self.reduction_factor = reduction_factor
        self.avg_down_stride = avg_down_stride
        super().__init__(in_channels, out_channels, **kwargs)

    def make_middle(self, channels: int, groups: int) -> None:
        self.avg_down_stride = self.avg_down_stride and self.conv2_stride > 1
        self.conv2 = SplitAttentionConv2d(
            channels, channels, 3,
            stride=1 if self.avg_down_stride else self.conv2_stride,
            padding=self.dilation, dilation=self.dilation, groups=groups,
            radix=self.radix, reduction_factor=self.reduction_factor,
            conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg)
        if self.avg_down_stride:
            self.avd_layer = nn.AvgPool2d(3, self.conv2_stride, padding=1)

    def middle(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(x)  # normalised and activated inside
        return self.avd_layer(out) if self.avg_down_stride else out


#: Zhang et al. Table 7 (ResNeSt-50, -101, -200, -269; mmpretrain adds
#: 152). The deeper models have a 128-channel stem (three 3x3 convs of 64,
#: 64, 128), ResNeSt-50 a 64-channel one.
RESNEST_ARCHS: Dict[int, ResNetArch] = {
    50: ResNetArch(SplitAttentionBottleneck, (3, 4, 6, 3), 64),
    101: ResNetArch(SplitAttentionBottleneck, (3, 4, 23, 3), 128),
    152: ResNetArch(SplitAttentionBottleneck, (3, 8, 36, 3), 128),
    200: ResNetArch(SplitAttentionBottleneck, (3, 24, 36, 3), 128),
    269: ResNetArch(SplitAttentionBottleneck, (3, 30, 48, 8), 128),
}


@MODELS.register_module()
class ResNeSt(ResNeXt, ResNetV1d):
    """ResNeSt backbone: ResNeXt with split-attention bottlenecks, on the
    ResNet-D stem and shortcuts.

    Args:
        depth (int | dict): 50, 101, 152, 200 or 269.
        groups (int): Cardinality of the split-attention convolutions.
        width_per_group (int): Channels per group (used when
            ``groups > 1``).
        radix (int): Splits per group (paper: 2).
        reduction_factor (int): Squeeze of the attention (hidden width
            ``in * radix / reduction_factor``, at least 32).
        avg_down_stride (bool): Downsample with a 3x3 average pool after
            the split attention instead of striding it.
        stem_channels (int, optional): Stem width; the table's (64 for
            ResNeSt-50, 128 deeper, as in the paper and mmpretrain's
            configs) when None.
        **kwargs: :class:`~.resnet.ResNet` arguments.

    Example (the 3x3 convolution of every bottleneck splits in two; the
    outputs are ResNet-50's; batch 2: the attention's BN needs it):
        >>> model = ResNeSt(depth=50, out_indices=(0, 3))
        >>> type(model.layer1[0].conv2).__name__, model.layer1[0].conv2.radix
        ('SplitAttentionConv2d', 2)
        >>> [tuple(o.shape) for o in model(torch.rand(2, 3, 64, 64))]
        [(2, 256, 16, 16), (2, 2048, 2, 2)]
    """

    ARCHS = RESNEST_ARCHS

    def __init__(self,
                 depth,
                 groups: int = 1,
                 width_per_group: int = 4,
                 radix: int = 2,
                 reduction_factor: int = 4,
                 avg_down_stride: bool = True,
                 **kwargs):
        check_positive_int('radix', radix)
        check_positive_int('reduction_factor', reduction_factor)
        # Read by block_kwargs() while ResNet.__init__ builds the stages.
        self.radix = radix
        self.reduction_factor = reduction_factor
        self.avg_down_stride = avg_down_stride
        super().__init__(depth, groups=groups,
                         width_per_group=width_per_group, **kwargs)

    def block_kwargs(self) -> dict:
        return dict(super().block_kwargs(), radix=self.radix,
                    reduction_factor=self.reduction_factor,
                    avg_down_stride=self.avg_down_stride)
