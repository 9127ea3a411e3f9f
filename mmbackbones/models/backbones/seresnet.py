"""SE-ResNet and SE-ResNeXt (Hu et al., "Squeeze-and-Excitation Networks",
CVPR 2018): a squeeze-and-excitation gate on the residual branch of every
bottleneck, before the addition (paper Fig. 3). The block is
:class:`~.resnet.Bottleneck` plus the shared :class:`SELayer`.
"""
from typing import Dict

import torch

from mmbackbones.registry import MODELS
from ..base import check_positive_int
from ..layers import SELayer, make_divisible, mmpretrain_se_layer
from .resnet import RESNET_ARCHS, Bottleneck, ResNet, ResNetArch
from .resnext import ResNeXt

__all__ = ['SEResNet', 'SEResNeXt', 'SEBottleneck', 'SERESNET_ARCHS']


def resnet_se_layer(channels: int, ratio: int) -> SELayer:
    """mmpretrain's SE-ResNet gate: squeeze to
    ``make_divisible(channels // ratio, 8)``, in-place ReLU, sigmoid."""
    return mmpretrain_se_layer(channels, make_divisible(channels // ratio, 8))


class SEBottleneck(Bottleneck):
    """Bottleneck whose residual is gated by squeeze-and-excitation.

    The squeeze has ``make_divisible(out_channels // se_ratio, 8)``
    channels, as in mmpretrain (and timm, for the standard widths).

    Keys: those of :class:`~.resnet.Bottleneck` and ``se_layer.conv1.conv``
    / ``se_layer.conv2.conv``.

    Example:
        >>> block = SEBottleneck(256, 256, se_ratio=16)
        >>> block(torch.rand(1, 256, 8, 8)).shape
        torch.Size([1, 256, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, *,
                 se_ratio: int = 16, **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        check_positive_int('se_ratio', se_ratio)
        self.se_layer = resnet_se_layer(out_channels, se_ratio)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.se_layer(super().residual(x))


#: Hu et al. Table 1 / Table 2 (SE-ResNet-50, -101, -152).
SERESNET_ARCHS: Dict[int, ResNetArch] = {
    depth: ResNetArch(SEBottleneck, RESNET_ARCHS[depth].stage_blocks)
    for depth in (50, 101, 152)
}


@MODELS.register_module()
class SEResNet(ResNet):
    """SE-ResNet backbone.

    Args:
        depth (int | dict): 50, 101 or 152.
        se_ratio (int): Squeeze ratio of the SE layers (paper: 16).
        **kwargs: :class:`~.resnet.ResNet` arguments.

    Example:
        >>> model = SEResNet(depth=50, out_indices=(0, 3))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 256, 16, 16), (1, 2048, 2, 2)]
    """

    ARCHS = SERESNET_ARCHS

    def __init__(self, depth, se_ratio: int = 16, **kwargs):
        check_positive_int('se_ratio', se_ratio)
        # Read by block_kwargs() while ResNet.__init__ builds the stages.
        self.se_ratio = se_ratio
        super().__init__(depth, **kwargs)

    def block_kwargs(self) -> dict:
        return dict(super().block_kwargs(), se_ratio=self.se_ratio)


@MODELS.register_module()
class SEResNeXt(ResNeXt, SEResNet):
    """SE-ResNeXt backbone: SE blocks with grouped 3x3 convolutions (the
    arguments of :class:`~.resnext.ResNeXt` and :class:`SEResNet`).

    Args:
        depth (int | dict): 50, 101 or 152.
        groups (int): Cardinality of the 3x3 convolutions.
        width_per_group (int): Channels per group in the first stage.
        se_ratio (int): Squeeze ratio of the SE layers.
        **kwargs: :class:`~.resnet.ResNet` arguments.

    Example:
        >>> model = SEResNeXt(depth=50, groups=32, width_per_group=4)
        >>> model(torch.rand(1, 3, 64, 64))[0].shape
        torch.Size([1, 2048, 2, 2])
    """

    ARCHS = SERESNET_ARCHS
