"""Inception-ResNet-v2 (Szegedy et al., "Inception-v4, Inception-ResNet and
the Impact of Residual Connections on Learning", AAAI 2017 / arXiv
1602.07261, Figs. 15-19 and Sec. 3.3).

The network is the one Google released with the paper (TF-slim
``inception_resnet_v2.py``, the source of every public checkpoint and of
timm's port), which differs from the paper's figures: an Inception-v3 style
stem followed by ``Mixed_5b`` (320 channels) instead of Fig. 3's stem (384),
10 / 20 / 10 residual blocks instead of Fig. 15's 5 / 10 / 5, 1088 and 2080
channels on the 17x17 and 8x8 grids, and a final 1x1 convolution to 1536
channels. Module names are timm's (``conv2d_1a`` ... ``mixed_5b``,
``repeat``, ``mixed_6a``, ``repeat_1``, ``mixed_7a``, ``repeat_2``,
``block8``, ``conv2d_7b``; ``branchN`` inside a block), so timm checkpoints
load after dropping the classifier (``mmbackbones.converters``).

Residual scaling (Sec. 3.3: "scaling factors between 0.1 and 0.3"): each
residual branch is multiplied by a constant before it is added to the
shortcut. The paper does not give one per block; the released network uses
0.17 for the 35x35 blocks (Inception-ResNet-A, ``block35``), 0.10 for the
17x17 blocks (B, ``block17``) and 0.20 for the 8x8 blocks (C, ``block8``) --
TF-slim's ``slim.repeat(net, 10, block35, scale=0.17)``, ``(net, 20,
block17, scale=0.10)``, ``(net, 9, block8, scale=0.20)``, and timm's
``Block35(scale=0.17)``, ``Block17(scale=0.10)``, ``Block8(scale=0.20)``.
The tenth C block (``block8``) is unscaled (scale 1.0) and linear (no ReLU
after the sum): TF-slim's ``block8(net, activation_fn=None)``, timm's
``Block8(no_relu=True)``.
"""
import copy
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import BaseBackbone, as_named_arch, check_positive_ints
from ..layers import conv_norm_act

__all__ = ['InceptionResNetV2', 'INCEPTION_RESNET_V2_ARCHS']

Size = Union[int, Tuple[int, int]]

#: TensorFlow's BatchNorm epsilon (TF-slim ``batch_norm_epsilon=0.001``),
#: kept by timm's port.
_NORM_CFG = dict(type='BN', eps=1e-3)


# --------------------------------------------------------------------- #
# Layer tables: a branch is a sequence of Conv / Pool rows
# --------------------------------------------------------------------- #
@dataclass(frozen=True)
class Conv:
    """Conv (no bias) - BN - ReLU. ``valid``: unpadded (the paper's "V");
    otherwise "same" padding."""
    channels: int
    kernel: Size
    stride: int = 1
    valid: bool = False


@dataclass(frozen=True)
class Pool:
    """3x3 pooling. ``'avg'``: stride 1, "same", padding not counted in the
    average (TF's SAME average pool; timm's ``count_include_pad=False``).
    ``'max'``: stride 2, unpadded (the grid reductions)."""
    kind: str


Branch = Tuple[Union[Conv, Pool], ...]

#: Mixed_5b: the Inception-v3 style 35x35 block that ends the released
#: stem (1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1): 192 -> 320 channels.
MIXED_5B: Tuple[Branch, ...] = (
    (Conv(96, 1), ),
    (Conv(48, 1), Conv(64, 5)),
    (Conv(64, 1), Conv(96, 3), Conv(96, 3)),
    (Pool('avg'), Conv(64, 1)),
)
#: Reduction-A (paper Fig. 7 with Table 1's k, l, m, n = 256, 256, 384,
#: 384 for Inception-ResNet-v2): 35x35x320 -> 17x17x1088.
MIXED_6A: Tuple[Branch, ...] = (
    (Conv(384, 3, 2, valid=True), ),
    (Conv(256, 1), Conv(256, 3), Conv(384, 3, 2, valid=True)),
    (Pool('max'), ),
)
#: Reduction-B (paper Fig. 18): 17x17x1088 -> 8x8x2080.
MIXED_7A: Tuple[Branch, ...] = (
    (Conv(256, 1), Conv(384, 3, 2, valid=True)),
    (Conv(256, 1), Conv(288, 3, 2, valid=True)),
    (Conv(256, 1), Conv(288, 3), Conv(320, 3, 2, valid=True)),
    (Pool('max'), ),
)
#: Residual branches of Inception-ResNet-A (Fig. 16), -B (Fig. 17) and -C
#: (Fig. 19) as released; a linear 1x1 conv (with bias, no BN: TF-slim's
#: ``normalizer_fn=None, activation_fn=None``) maps their concatenation
#: back to the block's width.
BLOCK35: Tuple[Branch, ...] = (
    (Conv(32, 1), ),
    (Conv(32, 1), Conv(32, 3)),
    (Conv(32, 1), Conv(48, 3), Conv(64, 3)),
)
BLOCK17: Tuple[Branch, ...] = (
    (Conv(192, 1), ),
    (Conv(128, 1), Conv(160, (1, 7)), Conv(192, (7, 1))),
)
BLOCK8: Tuple[Branch, ...] = (
    (Conv(192, 1), ),
    (Conv(192, 1), Conv(224, (1, 3)), Conv(256, (3, 1))),
)


def _same_padding(kernel: Size) -> Size:
    if isinstance(kernel, int):
        return (kernel - 1) // 2
    return tuple((k - 1) // 2 for k in kernel)


def _branch_channels(branch: Branch, in_channels: int) -> int:
    last = branch[-1]
    return last.channels if isinstance(last, Conv) else in_channels


def _make_branch(branch: Branch, in_channels: int,
                 conv_cfg: Optional[dict], norm_cfg: dict) -> nn.Module:
    """The modules of one branch; a single layer stays bare (timm's keys:
    ``branch0.conv``, but ``branch1.0.conv``)."""
    layers, channels = [], in_channels
    for row in branch:
        if isinstance(row, Pool):
            layers.append(
                nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
                if row.kind == 'avg' else nn.MaxPool2d(3, stride=2))
            continue
        layers.append(
            conv_norm_act(channels, row.channels, row.kernel,
                          stride=row.stride,
                          padding=0 if row.valid else _same_padding(
                              row.kernel),
                          conv_cfg=conv_cfg, norm_cfg=norm_cfg))
        channels = row.channels
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


class MultiBranch(nn.Module):
    """Parallel branches ``branch0``, ``branch1``... concatenated along the
    channels (an Inception module or grid reduction)."""

    def __init__(self, branches: Sequence[Branch], in_channels: int,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = _NORM_CFG):
        super().__init__()
        self.num_branches = len(branches)
        for i, branch in enumerate(branches):
            self.add_module(f'branch{i}',
                            _make_branch(branch, in_channels, conv_cfg,
                                         norm_cfg))
        self.out_channels = sum(
            _branch_channels(b, in_channels) for b in branches)

    def concat(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            getattr(self, f'branch{i}')(x) for i in range(self.num_branches)
        ], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.concat(x)


class InceptionResNetBlock(MultiBranch):
    """``act(x + scale * conv2d(concat(branches(x))))`` (paper Figs. 16, 17,
    19 with Sec. 3.3's residual scaling); ``conv2d`` is the linear 1x1
    convolution with bias and no BN back to ``channels``.

    Args:
        branches: The residual branches (:data:`BLOCK35` ...).
        channels: Input and output channels.
        scale: The residual's scaling factor (Sec. 3.3).
        activate: ReLU after the sum; False only for the network's last
            block (TF-slim ``activation_fn=None``).

    Example:
        >>> block = InceptionResNetBlock(BLOCK35, 320, scale=0.17)
        >>> block(torch.rand(1, 320, 9, 9)).shape
        torch.Size([1, 320, 9, 9])
    """

    def __init__(self, branches: Sequence[Branch], channels: int,
                 scale: float, activate: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = _NORM_CFG):
        super().__init__(branches, channels, conv_cfg, norm_cfg)
        self.conv2d = nn.Conv2d(self.out_channels, channels, 1)
        self.out_channels = channels
        self.scale = scale
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x + scale * up in one pass (no temporary for scale * up)
        out = torch.add(x, self.conv2d(self.concat(x)), alpha=self.scale)
        return torch.relu_(out) if self.activate else out

    def extra_repr(self) -> str:
        return f'scale={self.scale}, activate={self.activate}'


# --------------------------------------------------------------------- #
# Architecture table
# --------------------------------------------------------------------- #
@dataclass(frozen=True)
class InceptionResNetV2Arch:
    """Block counts and residual scales of the three residual stages.

    ``num_blocks``: Inception-ResNet-A, -B, -C blocks; the C count includes
    the last, unscaled and linear block (``block8``). ``scales``: the
    residual scaling factor of the A, B and C blocks (Sec. 3.3).
    """
    num_blocks: Tuple[int, int, int]
    scales: Tuple[float, float, float]


#: The released network (TF-slim / timm ``inception_resnet_v2``): the
#: paper's only Inception-ResNet-v2; see the module docstring for how it
#: differs from the paper's Fig. 15 (5 / 10 / 5 blocks).
INCEPTION_RESNET_V2_ARCHS = {
    'inception_resnet_v2': InceptionResNetV2Arch(
        num_blocks=(10, 20, 10), scales=(0.17, 0.10, 0.20)),
}

_STAGE_CHANNELS = (192, 320, 1088, 1536)
_STAGE_STRIDES = (4, 8, 16, 32)
_WIDTHS = (320, 1088, 2080)  # the A, B, C blocks' widths
_FINAL_CHANNELS = 1536  # conv2d_7b (TF-slim Conv2d_7b_1x1)


def _resolve_arch(arch) -> InceptionResNetV2Arch:
    if isinstance(arch, InceptionResNetV2Arch):
        return arch
    spec = as_named_arch(arch, INCEPTION_RESNET_V2_ARCHS,
                         required_keys=['num_blocks'],
                         optional_keys=['scales'])
    if isinstance(spec, InceptionResNetV2Arch):
        return spec
    num_blocks = check_positive_ints('arch num_blocks', spec['num_blocks'],
                                     length=3)
    scales = spec.get('scales', INCEPTION_RESNET_V2_ARCHS[
        'inception_resnet_v2'].scales)
    if (isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence)
            or len(scales) != 3 or not all(
                isinstance(s, (int, float)) and not isinstance(s, bool)
                and s > 0 for s in scales)):
        raise ValueError('arch scales must be 3 positive numbers (the A, B '
                         f'and C blocks\' residual scales), but got '
                         f'{scales!r}')
    return InceptionResNetV2Arch(num_blocks, tuple(float(s) for s in scales))


@MODELS.register_module()
class InceptionResNetV2(BaseBackbone):
    """Inception-ResNet-v2 backbone (the released TF-slim network).

    Stem (stride 2): ``conv2d_1a`` (3x3/2), ``conv2d_2a`` (3x3),
    ``conv2d_2b`` (3x3 same), 64 channels. Four stages (``out_indices``),
    one per grid between two downsamplings, ending where timm's
    ``features_only`` taps 1-4 are:

    0. ``maxpool_3a``, ``conv2d_3b``, ``conv2d_4a``: 192 channels, stride 4
       (71x71 at 299 px);
    1. ``maxpool_5a``, ``mixed_5b``, 10 x Inception-ResNet-A (``repeat``):
       320 channels, stride 8 (35x35);
    2. Reduction-A (``mixed_6a``), 20 x Inception-ResNet-B (``repeat_1``):
       1088 channels, stride 16 (17x17);
    3. Reduction-B (``mixed_7a``), 9 + 1 x Inception-ResNet-C
       (``repeat_2``, ``block8``), ``conv2d_7b`` (1x1): 1536 channels,
       stride 32 (8x8) -- the default output, what the classifier pools.

    Stride 2 (``conv2d_2b``, timm's tap 0) is the stem's output, not a
    stage, as for the other families: detection necks start at stride 4.
    Convolutions marked "V" in the paper are unpadded, so the maps are
    smaller than input / stride and the smallest input is 75x75 (a
    ValueError below that).

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        arch (str | dict): ``'inception_resnet_v2'``, or a dict with
            ``num_blocks`` (A, B, C counts; C includes the last linear
            block) and optionally ``scales`` (the A, B, C residual scales;
            default 0.17, 0.10, 0.20).
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm after every convolution but the residual
            blocks' linear 1x1. Default BN with eps 1e-3 (TF-slim's).

    Example:
        >>> model = InceptionResNetV2(out_indices=(0, 1, 2, 3)).eval()
        >>> outs = model(torch.rand(1, 3, 299, 299))
        >>> [tuple(o.shape[1:]) for o in outs]
        [(192, 71, 71), (320, 35, 35), (1088, 17, 17), (1536, 8, 8)]
    """

    # 75 -> 37 -> 35 -> 17 (pool) -> 15 -> 7 (pool) -> 3 (reduction A) -> 1
    # (reduction B); 74 gives 0 after reduction B (tested).
    min_input_size = 75

    def __init__(self,
                 arch: Union[str, dict] = 'inception_resnet_v2',
                 out_indices: Union[int, Sequence[int]] = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = _NORM_CFG,
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
            raise TypeError('norm_cfg must be a dict with a "type" (e.g. '
                            "dict(type='BN', eps=1e-3)), but got "
                            f'{norm_cfg!r}')
        self.arch = _resolve_arch(arch)
        norm_cfg = copy.deepcopy(norm_cfg)
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)

        def conv(cin: int, cout: int, kernel: int, stride: int = 1,
                 padding: int = 0) -> nn.Module:
            return conv_norm_act(cin, cout, kernel, stride=stride,
                                 padding=padding, **kw)

        # Stem and stage 0: TF-slim's layers up to MaxPool_5a (299 -> 149 ->
        # 147 -> 147 -> [73 -> 73 -> 71]).
        self.conv2d_1a = conv(self.in_channels, 32, 3, stride=2)
        self.conv2d_2a = conv(32, 32, 3)
        self.conv2d_2b = conv(32, 64, 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = conv(64, 80, 1)
        self.conv2d_4a = conv(80, 192, 3)
        # Stage 1: 71 -> 35, Mixed_5b, the A blocks.
        self.maxpool_5a = nn.MaxPool2d(3, stride=2)
        self.mixed_5b = MultiBranch(MIXED_5B, 192, **kw)
        self.repeat = self._make_blocks(BLOCK35, 0, self.arch.num_blocks[0],
                                        kw)
        # Stage 2: Reduction-A, the B blocks.
        self.mixed_6a = MultiBranch(MIXED_6A, _WIDTHS[0], **kw)
        self.repeat_1 = self._make_blocks(BLOCK17, 1,
                                          self.arch.num_blocks[1], kw)
        # Stage 3: Reduction-B, the C blocks, the last one unscaled and
        # linear, then the 1x1 conv to 1536 channels.
        self.mixed_7a = MultiBranch(MIXED_7A, _WIDTHS[1], **kw)
        self.repeat_2 = self._make_blocks(BLOCK8, 2,
                                          self.arch.num_blocks[2] - 1, kw)
        self.block8 = InceptionResNetBlock(BLOCK8, _WIDTHS[2], scale=1.0,
                                           activate=False, **kw)
        self.conv2d_7b = conv(_WIDTHS[2], _FINAL_CHANNELS, 1)
        assert (self.mixed_5b.out_channels, self.mixed_6a.out_channels,
                self.mixed_7a.out_channels) == _WIDTHS

        self.declare_stages(
            stem=['conv2d_1a', 'conv2d_2a', 'conv2d_2b'],
            stages=[['maxpool_3a', 'conv2d_3b', 'conv2d_4a'],
                    ['maxpool_5a', 'mixed_5b', *self.blocks('repeat')],
                    ['mixed_6a', *self.blocks('repeat_1')],
                    ['mixed_7a', *self.blocks('repeat_2'), 'block8',
                     'conv2d_7b']],
            channels=_STAGE_CHANNELS, strides=_STAGE_STRIDES)

    def _make_blocks(self, branches: Sequence[Branch], index: int,
                     num_blocks: int, kw: dict) -> nn.Sequential:
        return nn.Sequential(*[
            InceptionResNetBlock(branches, _WIDTHS[index],
                                 scale=self.arch.scales[index], **kw)
            for _ in range(num_blocks)
        ])

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The ``out_indices`` stage outputs; stages after the last one
        requested are not run."""
        self.check_input(x)
        for module in self.stem_modules():
            x = module(x)
        outs = []
        stages = self.stage_modules()[:self.out_indices[-1] + 1]
        for i, stage in enumerate(stages):
            x = self.run_stage(stage, x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
