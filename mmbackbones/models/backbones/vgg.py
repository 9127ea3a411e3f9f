"""VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks for
Large-Scale Image Recognition", ICLR 2015), with optional BatchNorm.

Arguments and module names follow mmpretrain's ``VGG`` (``features.<i>``
for the flat list of ConvModules and max-pools, ``classifier.{0,3,6}`` for
the fully connected layers), so its checkpoints load as they are and its
configs port by changing ``type``; ``mmbackbones.converters`` maps
torchvision's ``vgg*`` / ``vgg*_bn`` names.
"""
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import ConvModule

from mmbackbones.registry import MODELS
from ..base import (DEFAULT_INIT_CFG, BaseBackbone, as_named_arch,
                    make_stage_strides)

__all__ = ['VGG', 'VGG_ARCHS']


@dataclass(frozen=True)
class VGGArch:
    """One column of the paper's Table 1 (ConvNet configurations)."""
    stage_blocks: Tuple[int, ...]  # 3x3 convs in each of the 5 stages
    stage_channels: Tuple[int, ...] = (64, 128, 256, 512, 512)
    fc_channels: int = 4096  # width of fc6 and fc7


#: Paper Table 1, keyed by depth (weight layers, the 3 FC layers included):
#: 11 = column A, 13 = B, 16 = D, 19 = E.
VGG_ARCHS: Dict[int, VGGArch] = {
    11: VGGArch((1, 1, 2, 2, 2)),
    13: VGGArch((2, 2, 2, 2, 2)),
    16: VGGArch((2, 2, 3, 3, 3)),
    19: VGGArch((2, 2, 4, 4, 4)),
}

#: The classifier sees a 7x7 map, as at the paper's 224x224 input.
CLASSIFIER_INPUT_SIZE = 7


def _check_per_stage(name: str, values: Sequence[int], num_stages: int,
                     allowed: Optional[Sequence[int]] = None) -> Tuple[int]:
    values = tuple(values)
    if len(values) != num_stages:
        raise ValueError(f'{name} must have one entry per stage '
                         f'(num_stages={num_stages}), but got {values}')
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1 or (
                allowed is not None and v not in allowed):
            valid = list(allowed) if allowed else 'positive ints'
            raise ValueError(f'{name} must contain {valid}, but got '
                             f'{values}')
    return values


def _make_pool(stride: int, ceil_mode: bool) -> nn.MaxPool2d:
    """The paper's 2x2 stride-2 max-pool; stride 1 keeps the resolution
    with a 3x3 pool (DeepLab-LargeFOV, SSD) for dense prediction."""
    if stride == 2:
        return nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode)
    return nn.MaxPool2d(kernel_size=3, stride=1, padding=1,
                        ceil_mode=ceil_mode)


def _make_stage(in_channels: int, out_channels: int, num_convs: int,
                dilation: int, **conv_kwargs) -> List[nn.Module]:
    """``num_convs`` 3x3 conv-(norm)-ReLU layers (the pool is added by the
    caller). The convolutions keep their bias even before a norm layer:
    torchvision's and mmpretrain's ``vgg*_bn`` have one, so their weights
    load without loss."""
    with warnings.catch_warnings():
        # mmcv warns about a bias before a norm layer: kept on purpose.
        warnings.filterwarnings('ignore', 'Unnecessary conv bias')
        return [
            ConvModule(in_channels if i == 0 else out_channels, out_channels,
                       3, padding=dilation, dilation=dilation, bias=True,
                       **conv_kwargs) for i in range(num_convs)
        ]


@MODELS.register_module()
class VGG(BaseBackbone):
    """VGG backbone, with BatchNorm after every conv when ``norm_cfg`` is set.

    Stages (``out_indices``) 0-4 are the paper's five conv blocks, each
    ending with its max-pool (strides 2, 4, 8, 16, 32; channels 64, 128,
    256, 512, 512). The backbone is the conv part by default, which is what
    detection and segmentation use.

    The classifier: the paper's VGG ends with three fully connected layers
    (fc6, fc7 with ReLU and dropout, fc8), 90% of its parameters. As in
    mmpretrain, ``num_classes > 0`` builds them here (keys
    ``classifier.{0,3,6}``), as a sixth output (index 5, the default
    output then) that gives the logits; the image classifier on top is then
    a plain ``ClsHead`` with no neck. Keeping mmpretrain's layout means its
    ImageNet checkpoints and configs load unchanged; keeping the FCs out by
    default keeps the backbone a pure feature extractor. Unlike mmpretrain,
    the feature map is adaptively average-pooled to 7x7 before fc6 (a no-op
    at 224x224, as in torchvision), so any input of at least 32x32 works.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        depth (int | dict): 11, 13, 16 or 19 (paper Table 1 columns A, B, D,
            E), or a custom dict with ``stage_blocks`` (and optionally
            ``stage_channels``, ``fc_channels``).
        num_classes (int): Build the FC classifier with this many classes;
            -1 (default) leaves it out.
        num_stages (int): Number of conv stages, 1-5.
        dilations (Sequence[int], optional): Dilation of each stage's
            convs; None: 1 everywhere.
        strides (Sequence[int], optional): Stride (2 or 1) of each stage's
            max-pool; None: 2 everywhere. 1 replaces the 2x2 pool with a
            3x3 stride-1 one, as in DeepLab's and SSD's VGG. Not an
            mmpretrain argument.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict, optional): Norm config, e.g. ``dict(type='BN')``
            for VGG-BN; None (default) is the paper's VGG.
        act_cfg (dict): Activation config. Default: ReLU.
        ceil_mode (bool): ``ceil_mode`` of the max-pools.
        with_last_pool (bool): Keep the last stage's max-pool.

    Example:
        >>> model = VGG(depth=11, norm_cfg=dict(type='BN'),
        ...             out_indices=(0, 1, 2, 3, 4))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8), (1, 512, 4, 4), \
(1, 512, 2, 2)]
        >>> VGG(depth=16, num_classes=10)(torch.rand(2, 3, 32, 32))[0].shape
        torch.Size([2, 10])
    """

    #: mmpretrain's: the base's, and N(0, 0.01) for the classifier.
    default_init_cfg = [*DEFAULT_INIT_CFG,
                        dict(type='Normal', std=0.01, layer='Linear')]

    def __init__(self,
                 depth: Union[int, dict],
                 num_classes: int = -1,
                 num_stages: int = 5,
                 dilations: Optional[Sequence[int]] = None,
                 strides: Optional[Sequence[int]] = None,
                 out_indices: Optional[Union[int, Sequence[int]]] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: dict = dict(type='ReLU'),
                 ceil_mode: bool = False,
                 with_last_pool: bool = True,
                 **kwargs):
        if not isinstance(num_stages, int) or not 1 <= num_stages <= 5:
            raise ValueError(f'num_stages must be in 1..5, but got '
                             f'{num_stages!r}')
        if not isinstance(num_classes, int) or isinstance(num_classes, bool):
            raise TypeError(f'num_classes must be an int, but got '
                            f'{num_classes!r}')
        if out_indices is None:
            out_indices = num_stages if num_classes > 0 else num_stages - 1
        super().__init__(out_indices=out_indices, **kwargs)
        arch = as_named_arch(depth, VGG_ARCHS, 'depth', ['stage_blocks'])
        if isinstance(arch, dict):
            arch = VGGArch(**arch)
        self.depth = depth
        self.num_classes = num_classes
        self.dilations = _check_per_stage(
            'dilations', (1, ) * num_stages if dilations is None else
            dilations, num_stages)
        self.strides = _check_per_stage(
            'strides', (2, ) * num_stages if strides is None else strides,
            num_stages, allowed=(1, 2))
        if len(arch.stage_blocks) < num_stages or len(
                arch.stage_channels) < num_stages:
            raise ValueError(f'depth {depth!r} describes fewer than '
                             f'num_stages={num_stages} stages')

        self.features, self._stage_ranges = self._make_features(
            arch, conv_cfg, norm_cfg, act_cfg, ceil_mode, with_last_pool)
        channels = arch.stage_channels[:num_stages]
        pool_strides = list(self.strides)
        if not with_last_pool:
            pool_strides[-1] = 1
        strides = list(make_stage_strides(1, pool_strides))
        # Floor-mode 2x2 pools halve (rounding down): each needs 2 pixels.
        self.min_input_size = 1 if ceil_mode else strides[-1]
        if num_classes > 0:
            self._make_classifier(channels[-1], arch.fc_channels,
                                  num_classes)
            channels += (num_classes, )
            strides.append(strides[-1])  # logits of the whole last map
        # The keys stay mmpretrain's ``features.N``: the stages are ranges
        # of it. VGG has no stem: frozen_stages=0 freezes nothing.
        stages = [[f'features.{j}' for j in range(start, end)]
                  for start, end in self._stage_ranges]
        if num_classes > 0:
            stages.append(['avgpool', 'flatten', 'classifier'])
        self.declare_stages(stem=[], stages=stages, channels=channels,
                            strides=strides)

    def _make_features(self, arch: VGGArch, conv_cfg, norm_cfg, act_cfg,
                       ceil_mode: bool, with_last_pool: bool):
        """The flat ``features`` Sequential (mmpretrain's keys) and the
        [start, end) range of each stage in it."""
        layers: List[nn.Module] = []
        ranges = []
        in_channels = self.in_channels
        num_stages = len(self.strides)
        for i in range(num_stages):
            out_channels = arch.stage_channels[i]
            start = len(layers)
            layers += _make_stage(in_channels, out_channels,
                                  arch.stage_blocks[i], self.dilations[i],
                                  conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                  act_cfg=act_cfg)
            if i < num_stages - 1 or with_last_pool:
                layers.append(_make_pool(self.strides[i], ceil_mode))
            ranges.append((start, len(layers)))
            in_channels = out_channels
        return nn.Sequential(*layers), tuple(ranges)

    def _make_classifier(self, in_channels: int, fc_channels: int,
                         num_classes: int) -> None:
        """fc6, fc7 (4096 channels, ReLU, dropout 0.5) and fc8 (paper Sec.
        2.1)."""
        self.avgpool = nn.AdaptiveAvgPool2d(CLASSIFIER_INPUT_SIZE)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Sequential(
            nn.Linear(in_channels * CLASSIFIER_INPUT_SIZE**2, fc_channels),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(fc_channels, fc_channels),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(fc_channels, num_classes),
        )
