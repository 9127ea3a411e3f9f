# BN-Inception without the convolution biases in front of every BN (the
# Caffe model's, kept by the default for its weights): BN subtracts the
# batch mean, so they never change its output and get zero gradient; 10,016
# fewer parameters for training from scratch. Converted Caffe weights still
# load: the converters fold each bias into its BN's running mean.
from mmengine.config import read_base

with read_base():
    from ..bn_inception import *  # noqa: F401,F403

model.update(backbone=dict(type=BNInception, arch='bn_inception',
                           conv_bias='auto'))
