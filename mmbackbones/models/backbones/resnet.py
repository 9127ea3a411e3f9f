"""ResNet (He et al., "Deep Residual Learning for Image Recognition", CVPR
2016), the base of the whole ResNet family.

ResNeXt, SE-ResNet(X), ResNeSt and Res2Net are "ResNet with another block
or stem", so they are tables over shared pieces, not copies: the blocks
(:class:`~mmbackbones.models.layers.residual.ResidualBlock`,
``BasicBlock``, ``Bottleneck``) and the stage builder (``make_res_layer``)
live in ``models/layers/residual.py`` (HRNet and CSPNet use them too; they
stay importable from here); :class:`ResNet` is the 7x7 or deep (three 3x3,
"C" variant) stem and four stages from a named arch table, which families
subclass with their own table and block arguments.

Module names, registry types and constructor arguments are mmpretrain's,
so its checkpoints load as they are and its configs port by changing
``type``; ``mmbackbones.converters`` maps torchvision's and timm's names.
"""
import warnings
from dataclasses import dataclass
from importlib import import_module
from typing import Dict, List, Optional, Sequence, Tuple, Type, Union

import torch  # noqa: F401 (the examples below: --doctest-modules)
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import (BaseBackbone, as_named_arch, check_positive_ints,
                    make_stage_strides)
from ..layers import conv_norm_act
from ..layers.conv import add_conv_norm, norm_property
# Re-exported: the family's files and users import the blocks from here.
from ..layers.residual import (BasicBlock, Bottleneck, ResidualBlock,
                               ZeroInitResidualMixin, make_downsample,
                               make_res_layer, zero_init_residual_blocks)

__all__ = [
    'ResNet', 'ResNetV1c', 'ResNetV1d', 'ResidualBlock', 'BasicBlock',
    'Bottleneck', 'ResNetArch', 'RESNET_ARCHS', 'make_res_layer',
    'make_downsample', 'resolve_pretrained', 'require_mmcv_ops',
    'zero_init_residual_blocks'
]


def resolve_pretrained(pretrained: Optional[str],
                       init_cfg: Optional[Union[dict, List[dict]]]
                       ) -> Optional[Union[dict, List[dict]]]:
    """mmdet/mmseg's deprecated ``pretrained=`` as ``init_cfg``.

    mmseg's segmentors pass their ``pretrained`` into the backbone, so a
    type swap needs the argument; it becomes
    ``dict(type='Pretrained', checkpoint=pretrained)`` with mmdet's
    deprecation warning.
    """
    if pretrained is None:
        return init_cfg
    if not isinstance(pretrained, str):
        raise TypeError('pretrained must be a str (a checkpoint path or URL) '
                        f'or None, but got {type(pretrained).__name__}')
    if init_cfg:
        raise ValueError('init_cfg and pretrained cannot be specified at the '
                         'same time (pretrained is deprecated: use '
                         "init_cfg=dict(type='Pretrained', checkpoint=...))")
    warnings.warn('DeprecationWarning: pretrained is deprecated, please use '
                  '"init_cfg" instead')
    return dict(type='Pretrained', checkpoint=pretrained)


def require_mmcv_ops(argument: str) -> None:
    """A clear ImportError when ``argument`` needs full mmcv's ops."""
    try:
        import_module('mmcv.ops')
    except ImportError as err:
        raise ImportError(
            f'{argument} needs the compiled ops of full mmcv (mmcv.ops: '
            f'{err}); mmcv-lite has none. Install full mmcv '
            "('pip install \"mmcv>=2.0.0,<2.2.0\"', a source build) instead "
            'of mmcv-lite') from None


@dataclass(frozen=True)
class ResNetArch:
    """One column of a ResNet-style table: the block and blocks per stage.

    ``stem_channels`` is the stem's output width (ResNeSt's deeper models
    use a wider stem).
    """
    block: Type[ResidualBlock]
    stage_blocks: Tuple[int, ...]  # conv2_x .. conv5_x
    stem_channels: int = 64


#: He et al. 2016, Table 1 (18, 34, 50, 101 and 152 layers).
RESNET_ARCHS: Dict[int, ResNetArch] = {
    18: ResNetArch(BasicBlock, (2, 2, 2, 2)),
    34: ResNetArch(BasicBlock, (3, 4, 6, 3)),
    50: ResNetArch(Bottleneck, (3, 4, 6, 3)),
    101: ResNetArch(Bottleneck, (3, 4, 23, 3)),
    152: ResNetArch(Bottleneck, (3, 8, 36, 3)),
}


@MODELS.register_module()
class ResNet(ZeroInitResidualMixin, BaseBackbone):
    """ResNet backbone, and the base of every ResNet-style family.

    Stem: a 7x7 stride-2 convolution (or, with ``deep_stem``, three 3x3
    convolutions) and a 3x3 stride-2 max pool: stride 4. Stages
    (``out_indices`` 0-3): conv2_x .. conv5_x of the paper, strides 4, 8,
    16, 32 by default.

    Subclasses set ``ARCHS`` (their table) and pass block arguments by
    overriding :meth:`block_kwargs` / :meth:`make_res_layer`.

    Args:
        depth (int | dict): A row of ``ARCHS`` (18, 34, 50, 101, 152), or a
            custom dict with ``stage_blocks`` and optionally ``block`` (a
            class, or the name of a block of ``ARCHS``: ``'BasicBlock'`` /
            ``'Bottleneck'``; default the deepest row's) and
            ``stem_channels``.
        stem_channels (int, optional): Stem output channels; the arch's
            (64) when None.
        base_channels (int): Bottleneck width of the first stage.
        expansion (int, optional): Block expansion; the block's when None.
        num_stages (int): Stages to build, 1-4.
        strides (Sequence[int]): Stride of the first block of each stage.
        dilations (Sequence[int]): Dilation of each stage (dense
            prediction: e.g. strides (1, 2, 1, 1), dilations (1, 1, 2, 4)
            give output stride 8).
        style (str): ``'pytorch'``: stride on the 3x3 conv; ``'caffe'``: on
            the first 1x1.
        deep_stem (bool): Three 3x3 convolutions instead of the 7x7 (the
            "C" variant, key ``stem``).
        avg_down (bool): Average-pool before strided shortcut projections
            (the "D" variant).
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config.
        zero_init_residual (bool): Zero the last norm of every block at
            initialisation (each block starts as the identity).
        drop_path_rate (float): Stochastic depth, rising linearly to this
            rate over the blocks.
        contract_dilation (bool): mmseg's: the first block of a dilated
            stage uses half the dilation.
        multi_grid (Sequence[int], optional): mmseg's: per-block dilations
            of the last stage (DeepLabv3 Sec. 3.2), one per block.
        dcn (dict, optional): mmdet's deformable 3x3 convolution config
            (e.g. ``dict(type='DCNv2', deform_groups=1)``) for the
            bottlenecks of the stages in ``stage_with_dcn``; needs full
            mmcv (its compiled ops), an ImportError saying so otherwise.
        stage_with_dcn (Sequence[bool]): Stages whose blocks use ``dcn``.
        plugins (list, optional): mmdet's block plugins; not supported here
            (a ValueError): use mmdet's ResNet for them.
        pretrained (str, optional): Deprecated (mmdet/mmseg): a checkpoint,
            turned into ``init_cfg=dict(type='Pretrained', ...)`` with a
            warning.
        out_indices (int | Sequence[int]): Stages to return (0-3). Default:
            -1, the last.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see
    :class:`~mmbackbones.models.base.BaseBackbone`.

    Arguments are mmpretrain's, plus mmdet's and mmseg's (``dcn``,
    ``stage_with_dcn``, ``plugins``, ``contract_dilation``,
    ``multi_grid``, ``pretrained``), so a downstream config swaps ``type``
    only. Defaults are mmpretrain's: ``out_indices=-1`` (the last stage;
    mmdet/mmseg (0, 1, 2, 3)) and ``norm_eval=False`` (mmdet True).

    Example:
        >>> model = ResNet(depth=18, out_indices=(0, 1, 2, 3))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4), (1, 512, 2, 2)]
    """

    #: The family's table. A custom ``depth`` dict may name any block of
    #: it, and gets the deepest row's block when it names none.
    ARCHS: Dict[int, ResNetArch] = RESNET_ARCHS

    def __init__(self,
                 depth: Union[int, dict],
                 stem_channels: Optional[int] = None,
                 base_channels: int = 64,
                 expansion: Optional[int] = None,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Union[int, Sequence[int]] = -1,
                 style: str = 'pytorch',
                 deep_stem: bool = False,
                 avg_down: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 zero_init_residual: bool = True,
                 drop_path_rate: float = 0.0,
                 contract_dilation: bool = False,
                 multi_grid: Optional[Sequence[int]] = None,
                 dcn: Optional[dict] = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False,
                                                   False),
                 plugins: Optional[list] = None,
                 pretrained: Optional[str] = None,
                 **kwargs):
        kwargs['init_cfg'] = resolve_pretrained(pretrained,
                                                kwargs.get('init_cfg'))
        super().__init__(out_indices=out_indices, **kwargs)
        if plugins is not None:
            raise ValueError(
                'plugins are not supported by '
                f'mmbackbones.{type(self).__name__}'
                " (mmdet's ContextBlock/GeneralizedAttention/NonLocal2d "
                "plugins live in mmdet.models.ResNet: use type='ResNet' of "
                'mmdet for them), but got plugins={plugins!r}')
        arch = self._resolve_arch(depth)
        if not isinstance(num_stages, int) or not 1 <= num_stages <= 4:
            raise ValueError(f'num_stages must be 1..4, but got {num_stages}')
        check_positive_ints('strides', strides, minimum_length=num_stages)
        check_positive_ints('dilations', dilations,
                            minimum_length=num_stages)
        if style not in ('pytorch', 'caffe'):
            raise ValueError(
                f"style must be 'pytorch' or 'caffe', but got {style!r}")
        self.depth = depth
        self.stem_channels = stem_channels or arch.stem_channels
        self.base_channels = base_channels
        self.strides = tuple(strides[:num_stages])
        self.dilations = tuple(dilations[:num_stages])
        self.style = style
        self.deep_stem = deep_stem
        self.avg_down = avg_down
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.zero_init_residual = zero_init_residual
        self.block = arch.block
        self.stage_blocks = arch.stage_blocks[:num_stages]
        self.expansion = expansion or arch.block.expansion
        self.contract_dilation = contract_dilation
        if multi_grid is not None:
            multi_grid = check_positive_ints(
                'multi_grid', multi_grid, length=self.stage_blocks[-1])
        self.multi_grid = multi_grid
        self.dcn = dcn
        self.stage_with_dcn = tuple(stage_with_dcn)
        if dcn is not None:
            self._check_dcn(num_stages)

        self._make_stem(self.in_channels, self.stem_channels)
        self._make_stages(drop_path_rate)
        self.feat_dim = self.stage_channels[-1]
        stem = (['stem'] if deep_stem else
                ['conv1', self.norm1_name, 'relu']) + ['maxpool']
        self.declare_stages(
            stem=stem, stages=[self.blocks(n) for n in self.res_layers],
            channels=self.stage_channels,
            strides=make_stage_strides(4, self.strides))

    # ----------------------------------------------------------------- #
    # Building
    # ----------------------------------------------------------------- #
    def _resolve_arch(self, depth: Union[int, dict]) -> ResNetArch:
        arch = as_named_arch(depth, self.ARCHS, 'depth',
                             required_keys=['stage_blocks'],
                             optional_keys=['block', 'stem_channels'])
        if isinstance(arch, ResNetArch):
            return arch
        blocks = {a.block.__name__: a.block for a in self.ARCHS.values()}
        block = arch.get('block', list(self.ARCHS.values())[-1].block)
        if isinstance(block, str):
            if block not in blocks:
                raise ValueError(f'custom depth: block must be one of '
                                 f'{list(blocks)}, but got {block!r}')
            block = blocks[block]
        if not (isinstance(block, type) and issubclass(block, ResidualBlock)):
            raise TypeError('custom depth: block must be a ResidualBlock '
                            f'subclass or a name, but got {block!r}')
        stage_blocks = tuple(arch['stage_blocks'])
        check_positive_ints('custom depth stage_blocks', stage_blocks,
                            minimum_length=4)
        return ResNetArch(block, stage_blocks,
                          arch.get('stem_channels', 64))

    def _check_dcn(self, num_stages: int) -> None:
        if not isinstance(self.dcn, dict) or 'type' not in self.dcn:
            raise TypeError("dcn must be a conv config dict such as "
                            "dict(type='DCNv2', deform_groups=1), but got "
                            f'{self.dcn!r}')
        if len(self.stage_with_dcn) != num_stages:
            raise ValueError(f'stage_with_dcn needs {num_stages} entries '
                             f'(one per stage), but got '
                             f'{self.stage_with_dcn!r}')
        if any(self.stage_with_dcn) and (
                not issubclass(self.block, Bottleneck)
                or self.block.make_middle is not Bottleneck.make_middle):
            raise ValueError(
                f'dcn is supported on plain and grouped bottlenecks '
                f'(ResNet-50+, ResNeXt), not on {self.block.__name__}')
        if any(self.stage_with_dcn):
            require_mmcv_ops('dcn')

    def _block_dilations(self, stage: int, num_blocks: int) -> Tuple[int, ...]:
        """Each block's dilation in ``stage`` (mmseg's rules)."""
        if self.multi_grid is not None and stage == len(self.stage_blocks) - 1:
            return tuple(self.multi_grid)
        dilation = self.dilations[stage]
        first = (dilation // 2 if self.contract_dilation and dilation > 1
                 else dilation)
        return (first, ) + (dilation, ) * (num_blocks - 1)

    def _make_stem(self, in_channels: int, stem_channels: int) -> None:
        if self.deep_stem:
            # Three 3x3 convolutions cost about what one 7x7 does and see
            # the same 7x7 window (Bag of Tricks, "ResNet-C").
            half = stem_channels // 2
            common = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg)
            self.stem = nn.Sequential(
                conv_norm_act(in_channels, half, 3, stride=2, **common),
                conv_norm_act(half, half, 3, **common),
                conv_norm_act(half, stem_channels, 3, **common))
        else:
            add_conv_norm(self, 1, in_channels, stem_channels, 7, stride=2,
                          conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _make_stages(self, drop_path_rate: float) -> None:
        # Stochastic depth rises linearly over all blocks of the network.
        total = sum(self.stage_blocks)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        channels = self.stem_channels
        out_channels = self.base_channels * self.expansion
        stage_channels = []
        self.res_layers = []
        for i, num_blocks in enumerate(self.stage_blocks):
            dilations = self._block_dilations(i, num_blocks)
            extra = ({} if self.dcn is None or not self.stage_with_dcn[i]
                     else dict(dcn=self.dcn))
            layer = self.make_res_layer(
                block=self.block, num_blocks=num_blocks,
                in_channels=channels, out_channels=out_channels,
                stride=self.strides[i],
                dilation=(dilations[0] if len(set(dilations)) == 1 else
                          dilations),
                style=self.style, avg_down=self.avg_down,
                expansion=self.expansion, conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                drop_path_rates=rates[:num_blocks], **extra)
            rates = rates[num_blocks:]
            self.add_module(f'layer{i + 1}', layer)
            self.res_layers.append(f'layer{i + 1}')
            stage_channels.append(out_channels)
            channels, out_channels = out_channels, out_channels * 2
        self.stage_channels = tuple(stage_channels)

    def block_kwargs(self) -> dict:
        """Family-specific arguments of every block (ResNeXt's groups,
        SENet's ratio...). Plain ResNet has none."""
        return {}

    def make_res_layer(self, **kwargs) -> nn.Sequential:
        """Build one stage (see :func:`make_res_layer`)."""
        return make_res_layer(**kwargs, **self.block_kwargs())

    #: The 7x7 stem's norm (mmpretrain's attribute).
    norm1 = norm_property(1)


@MODELS.register_module()
class ResNetV1c(ResNet):
    """ResNet-C (Bag of Tricks, He et al. 2019, Fig. 2b): the 7x7 stem
    convolution replaced by three 3x3 ones (``deep_stem``).

    Example:
        >>> model = ResNetV1c(depth=50)
        >>> model(torch.rand(1, 3, 64, 64))[0].shape
        torch.Size([1, 2048, 2, 2])
    """

    def __init__(self, depth: Union[int, dict], **kwargs):
        super().__init__(depth, deep_stem=True, avg_down=False, **kwargs)


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNet-D (Bag of Tricks, Fig. 2c): the deep stem of ResNet-C and
    average pooling before the strided shortcut projections (``avg_down``).

    Example:
        >>> model = ResNetV1d(depth=50, out_indices=(0, 3))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 256, 16, 16), (1, 2048, 2, 2)]
    """

    def __init__(self, depth: Union[int, dict], **kwargs):
        super().__init__(depth, deep_stem=True, avg_down=True, **kwargs)
