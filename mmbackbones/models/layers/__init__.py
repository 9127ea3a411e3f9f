"""Shared bricks used by several backbone families."""
from .conv import conv2d_relu, conv_norm_act
from .packed_conv import PackedConv2d, pack_convolutions
from .inverted_residual import InvertedResidual
from .reparam import fold_bn, pad_kernel
from .residual import (BasicBlock, Bottleneck, ResidualBlock,
                       ZeroInitResidualMixin, make_downsample, make_res_layer,
                       zero_init_residual_blocks)
from .se import SELayer, mmpretrain_se_layer
from .utils import (SpatialMean, channel_shuffle, concat_shuffle,
                    make_divisible, spatial_mean)

__all__ = [
    'conv_norm_act', 'conv2d_relu', 'fold_bn', 'pad_kernel', 'SELayer',
    'PackedConv2d', 'pack_convolutions',
    'channel_shuffle', 'concat_shuffle', 'make_divisible', 'InvertedResidual',
    'mmpretrain_se_layer', 'spatial_mean', 'SpatialMean',
    'ResidualBlock', 'BasicBlock', 'Bottleneck', 'make_res_layer',
    'make_downsample', 'zero_init_residual_blocks', 'ZeroInitResidualMixin'
]
