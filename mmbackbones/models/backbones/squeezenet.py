"""SqueezeNet (Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x
fewer parameters and <0.5MB model size", 2016).

mmpretrain has no SqueezeNet; module names follow torchvision's
``squeezenet1_0`` / ``squeezenet1_1`` ``features`` (``features.N.squeeze``,
``features.N.expand1x1``, ``features.N.expand3x3``), so a torchvision
checkpoint loads with its ``classifier.*`` keys dropped.
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import BaseBackbone, as_named_arch
from ..layers import conv2d_relu

__all__ = ['SqueezeNet', 'Fire', 'SQUEEZENET_ARCHS']


class Fire(nn.Module):
    """The Fire module (paper Sec. 3.2, Fig. 1).

    A 1x1 "squeeze" convolution to ``squeeze_channels``, then two parallel
    "expand" convolutions (1x1 and 3x3), concatenated: the output has
    ``expand1x1_channels + expand3x3_channels`` channels. Every convolution
    has a bias and is followed by ReLU (SqueezeNet has no normalisation).

    Example:
        >>> fire = Fire(96, 16, 64, 64)
        >>> fire(torch.rand(1, 96, 16, 16)).shape
        torch.Size([1, 128, 16, 16])
    """

    def __init__(self, in_channels: int, squeeze_channels: int,
                 expand1x1_channels: int, expand3x3_channels: int):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze_channels, 1)
        self.expand1x1 = nn.Conv2d(squeeze_channels, expand1x1_channels, 1)
        self.expand3x3 = nn.Conv2d(squeeze_channels, expand3x3_channels, 3,
                                   padding=1)
        self.out_channels = expand1x1_channels + expand3x3_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = conv2d_relu(self.squeeze, x)
        return torch.cat((conv2d_relu(self.expand1x1, x),
                          conv2d_relu(self.expand3x3, x)), dim=1)


@dataclass(frozen=True)
class SqueezeNetArch:
    """One version of the network (paper Table 1 and its v1.1 note).

    ``stages`` lists, per stage, the Fire modules as (squeeze, expand1x1,
    expand3x3) channels; a 3x3 stride-2 max-pool (ceil mode) precedes every
    stage after the first.
    """
    stem_channels: int  # conv1 output
    stem_kernel: int  # conv1 kernel (stride 2, no padding)
    stages: Tuple[Tuple[Tuple[int, int, int], ...], ...]


#: '1_0': paper Table 1 (conv1 7x7/96; max-pools after conv1, fire4 and
#: fire8). '1_1': the SqueezeNet v1.1 of the authors' repository (conv1
#: 3x3/64; max-pools after conv1, fire3 and fire5): 2.4x less computation,
#: the same accuracy.
SQUEEZENET_ARCHS: Dict[str, SqueezeNetArch] = {
    '1_0': SqueezeNetArch(
        96, 7,
        (((16, 64, 64), (16, 64, 64), (32, 128, 128)),
         ((32, 128, 128), (48, 192, 192), (48, 192, 192), (64, 256, 256)),
         ((64, 256, 256), ))),
    '1_1': SqueezeNetArch(
        64, 3,
        (((16, 64, 64), (16, 64, 64)),
         ((32, 128, 128), (32, 128, 128)),
         ((48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)))),
}


def _max_pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


def _pool_size(size: int) -> int:
    """Output size of the 3x3 stride-2 ceil-mode max-pool (0: too small)."""
    out = -(-(size - 3) // 2) + 1
    if (out - 1) * 2 >= size:  # the last window must start inside
        out -= 1
    return max(out, 0)


def _min_input_size(stem_kernel: int, num_stages: int) -> int:
    """Smallest input that survives conv1 (unpadded, stride 2) and the
    ``num_stages`` max-pools."""
    size = stem_kernel
    while True:
        feat = (size - stem_kernel) // 2 + 1
        for _ in range(num_stages):
            feat = _pool_size(feat)
        if feat >= 1:
            return size
        size += 1


@MODELS.register_module()
class SqueezeNet(BaseBackbone):
    """SqueezeNet backbone: conv1 and the Fire modules, without the final
    1x1 convolution (conv10) and pooling, which belong to the head.

    Stages (``out_indices``) are the groups of Fire modules between the
    max-pools, at strides 4, 8 and 16 (the input is not padded, so the
    maps are slightly smaller than input / stride: 13x13 at 224 px). The
    default returns the last (512 channels).

    Modules are torchvision's ``features`` Sequential with its indices (the
    max-pools included), so ``features.N.*`` keys load as they are.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        arch (str | dict): '1_0' or '1_1', or a custom dict with the fields
            of :class:`SqueezeNetArch` (``stem_channels``, ``stem_kernel``,
            ``stages``).

    Example:
        >>> model = SqueezeNet(arch='1_1', out_indices=(0, 1, 2))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 224, 224))]
        [(1, 128, 55, 55), (1, 256, 27, 27), (1, 512, 13, 13)]
    """

    def __init__(self,
                 arch: Union[str, dict] = '1_0',
                 out_indices: Union[int, Sequence[int]] = -1,
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        arch_def = as_named_arch(
            arch, SQUEEZENET_ARCHS,
            required_keys=['stem_channels', 'stem_kernel', 'stages'])
        if isinstance(arch_def, dict):
            arch_def = self._custom_arch(arch_def)
        self.arch = arch

        layers: List[nn.Module] = [
            nn.Conv2d(self.in_channels, arch_def.stem_channels,
                      arch_def.stem_kernel, stride=2),
            nn.ReLU(inplace=True),
            _max_pool(),
        ]
        # Index ranges of ``features`` that make up each stage.
        stage_slices: List[Tuple[int, int]] = []
        channels = arch_def.stem_channels
        stage_channels = []
        for i, fires in enumerate(arch_def.stages):
            start = len(layers)
            if i > 0:
                layers.append(_max_pool())
            for squeeze, e1, e3 in fires:
                layers.append(Fire(channels, squeeze, e1, e3))
                channels = e1 + e3
            stage_slices.append((start, len(layers)))
            stage_channels.append(channels)
        # The keys stay torchvision's ``features.N``; the stages are
        # ranges of it.
        self.features = nn.Sequential(*layers)
        self.declare_stages(
            stem=['features.0', 'features.1', 'features.2'],
            stages=[[f'features.{j}' for j in range(a, b)]
                    for a, b in stage_slices],
            channels=stage_channels,
            strides=[4 * 2**i for i in range(len(arch_def.stages))])
        self.min_input_size = _min_input_size(arch_def.stem_kernel,
                                              len(arch_def.stages))

    @staticmethod
    def _custom_arch(arch: dict) -> SqueezeNetArch:
        stages = arch['stages']
        ok = (isinstance(stages, (list, tuple)) and len(stages) > 0 and all(
            isinstance(s, (list, tuple)) and len(s) > 0 and all(
                isinstance(f, (list, tuple)) and len(f) == 3 and all(
                    isinstance(c, int) and c > 0 for c in f) for f in s)
            for s in stages))
        if not ok:
            raise ValueError(
                'arch["stages"] must be a non-empty list of stages, each a '
                'non-empty list of (squeeze, expand1x1, expand3x3) positive '
                f'ints, but got {stages!r}')
        for key in ('stem_channels', 'stem_kernel'):
            if not isinstance(arch[key], int) or arch[key] < 1:
                raise ValueError(f'arch["{key}"] must be a positive int, but '
                                 f'got {arch[key]!r}')
        return SqueezeNetArch(
            arch['stem_channels'], arch['stem_kernel'],
            tuple(tuple(tuple(f) for f in s) for s in stages))
