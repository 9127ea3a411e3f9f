"""The one entry point that puts any model in deploy form."""
from dataclasses import dataclass, field
from typing import List, Optional

import torch
import torch.nn as nn

from .fuse import (ConvBNPair, disable_efficient_conv_bn_eval,
                   find_conv_bn_pairs, fuse_conv_bn)
from mmbackbones.models.layers.packed_conv import pack_convolutions
from .reparam import reparameterize


@dataclass
class DeployInfo:
    """What :func:`convert_to_deploy` changed."""
    #: Modules whose ``switch_to_deploy()`` ran ('' is the model itself).
    reparameterized: List[str] = field(default_factory=list)
    #: (conv, BN) pairs folded, by module name.
    fused: List[ConvBNPair] = field(default_factory=list)
    #: How many convolutions became PackedConv2d (weights packed once for
    #: CPU inference; same parameters and keys).
    packed: int = 0


def convert_to_deploy(model: nn.Module,
                      inputs: Optional[torch.Tensor] = None,
                      fuse: bool = True) -> DeployInfo:
    """Put ``model`` -- a backbone, a classifier, a detector... -- in deploy
    form, in place: every re-parameterisable block switched
    (``switch_to_deploy()``), then every Conv -> BN pair folded, then
    every plain convolution made a
    :class:`~mmbackbones.models.layers.packed_conv.PackedConv2d` (oneDNN
    packs its weight once for CPU inference: same parameters and keys).

    The model is left in eval mode (BatchNorm folding uses the running
    statistics, so the result equals the eval-mode original).

    Args:
        model: The model to convert.
        inputs: An example input for the data-flow trace that finds the
            Conv -> BN pairs (a backbone's image batch; for mmengine
            models, the ``inputs`` of ``model(inputs, mode='tensor')``).
            Only needed with ``fuse``.
        fuse: Fold Conv -> BN pairs too (default) or only switch the
            re-parameterisable blocks.

    Example:
        >>> model = RepVGG('A0')
        >>> info = convert_to_deploy(model, torch.rand(1, 3, 32, 32))
        >>> len(info.reparameterized), info.fused
        (23, [])
    """
    model.eval()
    info = DeployInfo(reparameterized=reparameterize(model))
    if fuse:
        if inputs is None:
            raise ValueError('convert_to_deploy needs example inputs to find '
                             'the Conv -> BN pairs (or fuse=False)')
        disable_efficient_conv_bn_eval(model)
        info.fused = find_conv_bn_pairs(model, inputs)
        fuse_conv_bn(model, info.fused)
    info.packed = pack_convolutions(model)
    return info
