"""HRNet (Wang et al., "Deep High-Resolution Representation Learning for
Visual Recognition", TPAMI 2020): the classification HRNet-W18 ... W64.

The network keeps a high-resolution branch from the stem to the end and adds
a lower-resolution branch in each stage; inside a stage, *HR modules* run
every branch through residual blocks and then exchange information between
all resolutions (paper Sec. 3, Fig. 2/3):

* stem: two 3x3 stride-2 convolutions (stride 4, 64 channels);
* stage 1 (``layer1``): four bottlenecks, one branch, 256 channels;
* ``transition{k}`` turns the k branches of stage k into the k + 1 inputs
  of stage k + 1 (a 3x3 conv where the width changes, a new branch made by
  a 3x3 stride-2 conv of the lowest-resolution one);
* stages 2-4 (``stage2``..``stage4``): 1, 4 and 3 HR modules with 2, 3 and
  4 branches of four basic blocks each, widths ``C, 2C, 4C, 8C`` (``wC``).

The outputs are the four branches of the last stage, high to low
resolution (strides 4, 8, 16, 32); ``multiscale_output=False`` fuses only
the highest-resolution one in the last module (as mmpretrain).

Module names, the registry type and the constructor arguments are
mmpretrain's ``HRNet``, so its checkpoints load as they are;
``mmbackbones.converters`` maps timm's ``hrnet_w*`` names.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import (BaseBackbone, as_named_arch, check_positive_int,
                    check_positive_ints, make_stage_strides,
                    shape_is_symbolic)
from ..layers.conv import add_conv_norm, conv_norm, norm_property
from ..layers.residual import (BasicBlock, Bottleneck, ZeroInitResidualMixin,
                               make_res_layer)
from .resnet import resolve_pretrained

__all__ = [
    'HRNet', 'HRModule', 'HRNetStage', 'HRNET_ARCHS', 'UPSAMPLE_NEAREST',
    'UPSAMPLE_MMSEG'
]

#: The residual blocks an HRNet stage may use, by mmpretrain's names.
BLOCKS = {'BASIC': BasicBlock, 'BOTTLENECK': Bottleneck}

_STAGE_KEYS = ('num_modules', 'num_branches', 'block', 'num_blocks',
               'num_channels')

RunBranch = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def _run_plain(branch: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return branch(x)


#: The ReLU of the transition and fusion layers (``conv_norm``'s ``.2``).
_RELU = dict(type='ReLU', inplace=True)


class HRModule(nn.Module):
    """A high-resolution module (paper Fig. 3): residual blocks on every
    branch, then multi-resolution fusion.

    Output ``i`` is ``ReLU(sum_j f_ij(x_j))`` where ``f_ii`` is the identity,
    ``f_ij`` for a lower resolution ``j > i`` is a 1x1 conv + norm then
    nearest upsampling by ``2^(j-i)``, and for a higher resolution ``j < i``
    ``i - j`` 3x3 stride-2 conv + norm (ReLU between them).

    Keys: ``branches.{i}.{block}`` and ``fuse_layers.{i}.{j}`` (an
    identity, without parameters, where ``i == j``).

    Args:
        block (type): :class:`BasicBlock` or :class:`Bottleneck`.
        num_blocks (Sequence[int]): Blocks per branch.
        in_channels (Sequence[int]): Input channels per branch.
        num_channels (Sequence[int]): Base channels per branch (times the
            block's expansion at the output).
        multiscale_output (bool): Fuse every branch (True) or only the
            highest-resolution one.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config.
        upsample_cfg (dict): ``mode`` and ``align_corners`` of the fusion's
            upsampling (``nn.Upsample``).

    Example:
        >>> import torch
        >>> m = HRModule(BasicBlock, (1, 1), (8, 16), (8, 16))
        >>> [tuple(y.shape) for y in m([torch.rand(1, 8, 8, 8),
        ...                              torch.rand(1, 16, 4, 4)])]
        [(1, 8, 8, 8), (1, 16, 4, 4)]
    """

    def __init__(self,
                 block: type,
                 num_blocks: Sequence[int],
                 in_channels: Sequence[int],
                 num_channels: Sequence[int],
                 multiscale_output: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 upsample_cfg: dict = dict(mode='nearest',
                                           align_corners=None)):
        super().__init__()
        self.upsample_cfg = dict(upsample_cfg)
        if not len(num_blocks) == len(in_channels) == len(num_channels):
            raise ValueError(
                'num_blocks, in_channels and num_channels need one entry '
                f'per branch, but got {len(num_blocks)}, {len(in_channels)} '
                f'and {len(num_channels)}')
        self.num_branches = len(num_blocks)
        self.multiscale_output = multiscale_output
        channels = [c * block.expansion for c in num_channels]
        self.out_channels = tuple(channels)
        self.branches = nn.ModuleList(
            make_res_layer(block, n, cin, cout, conv_cfg=conv_cfg,
                           norm_cfg=norm_cfg)
            for n, cin, cout in zip(num_blocks, in_channels, channels))
        self.fuse_layers = None
        if self.num_branches > 1:
            num_out = self.num_branches if multiscale_output else 1
            self.fuse_layers = nn.ModuleList(
                nn.ModuleList(
                    self._make_fuse(channels, i, j, conv_cfg, norm_cfg,
                                    self.upsample_cfg)
                    for j in range(self.num_branches))
                for i in range(num_out))

    @staticmethod
    def _make_fuse(channels: Sequence[int], i: int, j: int,
                   conv_cfg: Optional[dict], norm_cfg: dict,
                   upsample_cfg: dict) -> nn.Module:
        """``f_ij``: branch ``j`` brought to branch ``i``'s shape."""
        if j == i:
            return nn.Identity()
        # Keys .0 (conv) and .1 (norm), as in mmpretrain's (and timm's)
        # fuse layers.
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        if j > i:  # lower resolution: 1x1 to i's width, then upsample
            layers = conv_norm(channels[j], channels[i], 1, **common)
            layers.append(nn.Upsample(scale_factor=2**(j - i),
                                      **upsample_cfg))
            return layers
        # higher resolution: i - j stride-2 3x3 convs, the last to i's width
        # and without ReLU (it comes after the sum).
        last = i - j - 1
        return nn.Sequential(*(
            conv_norm(channels[j], channels[i] if k == last else channels[j],
                      3, stride=2, act_cfg=None if k == last else _RELU,
                      **common) for k in range(i - j)))

    def forward(self,
                xs: List[torch.Tensor],
                out_branches: Optional[Sequence[int]] = None,
                run_branch: RunBranch = _run_plain) -> List[torch.Tensor]:
        """Fused maps for ``out_branches`` (default: every fused output).

        ``run_branch(branch, x)`` runs one branch's blocks (the backbone
        passes its gradient-checkpointing runner).
        """
        xs = [run_branch(branch, x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        if out_branches is None:
            out_branches = range(len(self.fuse_layers))
        outs = []
        for i in out_branches:
            y = None
            for j, (fuse, x) in enumerate(zip(self.fuse_layers[i], xs)):
                t = x if j == i else fuse(x)
                if y is None:
                    y = t
                elif j == 1:
                    y = y + t  # the first sum is a new tensor: ours from here
                else:
                    y += t
            outs.append(torch.relu_(y))
        return outs


@dataclass(frozen=True)
class HRNetStage:
    """One stage of an arch (a row of mmpretrain's ``arch_zoo``)."""
    num_modules: int  # HR modules in the stage
    num_branches: int  # resolutions (stage k has k)
    block: str  # 'BASIC' or 'BOTTLENECK'
    num_blocks: Tuple[int, ...]  # residual blocks per branch
    num_channels: Tuple[int, ...]  # base channels per branch

    def as_dict(self) -> dict:
        return dict(num_modules=self.num_modules,
                    num_branches=self.num_branches, block=self.block,
                    num_blocks=self.num_blocks,
                    num_channels=self.num_channels)


def _width_arch(width: int) -> Dict[str, HRNetStage]:
    """HRNet-W``width`` (paper Table 1 / Sec. 4.1 with C = width): stage 1
    is four bottlenecks of 64; stages 2-4 have 1, 4 and 3 modules of four
    basic blocks per branch, widths C, 2C, 4C, 8C."""
    stages = {'stage1': HRNetStage(1, 1, 'BOTTLENECK', (4, ), (64, ))}
    for k, num_modules in ((2, 1), (3, 4), (4, 3)):
        stages[f'stage{k}'] = HRNetStage(
            num_modules, k, 'BASIC', (4, ) * k,
            tuple(width * 2**b for b in range(k)))
    return stages


#: mmpretrain's presets: the classification HRNet-W18-C ... W64-C.
HRNET_ARCHS: Dict[str, Dict[str, HRNetStage]] = {
    f'w{w}': _width_arch(w)
    for w in (18, 30, 32, 40, 44, 48, 64)
}


#: mmpretrain's, mmdet's and mmpose's fusion upsampling.
UPSAMPLE_NEAREST = dict(mode='nearest', align_corners=None)
#: mmseg's (``mmseg.models.backbones.hrnet``: bilinear, and "we set
#: align_corners=False for HRNet").
UPSAMPLE_MMSEG = dict(mode='bilinear', align_corners=False)


def _check_upsample(cfg) -> dict:
    if not isinstance(cfg, dict) or set(cfg) - {'mode', 'align_corners'}:
        raise ValueError('upsample_cfg must be a dict with mode (and '
                         f'align_corners), e.g. {UPSAMPLE_MMSEG}, but got '
                         f'{cfg!r}')
    modes = ('nearest', 'bilinear', 'bicubic')
    if cfg.get('mode') not in modes:
        raise ValueError(f'upsample_cfg mode must be one of {modes}, but '
                         f'got {cfg.get("mode")!r}')
    cfg = dict(cfg)
    if cfg['mode'] == 'nearest':
        cfg['align_corners'] = None  # nn.Upsample accepts no other value
    else:
        cfg.setdefault('align_corners', False)
    return cfg


def _parse_extra(extra) -> Dict[str, HRNetStage]:
    """Validate a custom ``extra`` dict (mmpretrain's format) with the
    base's checks; what they do not cover (a name from a list, a fixed
    value) is checked here."""
    if not isinstance(extra, dict):
        raise TypeError('extra must be a dict with the keys stage1..stage4, '
                        f'but got {type(extra).__name__}')
    stages = {}
    for k in range(1, 5):
        cfg = extra.get(f'stage{k}')
        if not isinstance(cfg, dict):
            raise ValueError(f'extra must have a dict under stage{k} (keys '
                             f'{list(_STAGE_KEYS)}), but got {cfg!r}')
        name = f'extra["stage{k}"]'
        # Other keys (mmpose's multiscale_output, fuse_method) are allowed.
        as_named_arch(cfg, {}, name, required_keys=_STAGE_KEYS)
        if cfg['block'] not in BLOCKS:
            raise ValueError(f'{name}["block"] must be one of '
                             f'{list(BLOCKS)}, but got {cfg["block"]!r}')
        if cfg['num_branches'] != k:
            raise ValueError(
                f'{name}["num_branches"] must be {k} (stage k of HRNet has '
                f'k resolutions), but got {cfg["num_branches"]!r}')
        num_blocks, num_channels = (
            check_positive_ints(f'{name}["{key}"]', cfg[key], length=k)
            for key in ('num_blocks', 'num_channels'))
        num_modules = check_positive_int(f'{name}["num_modules"]',
                                         cfg['num_modules'])
        if k == 1 and num_modules != 1:
            raise ValueError(f'{name}["num_modules"] must be 1 (stage 1 is '
                             'a single residual layer), but got '
                             f'{num_modules}')
        stages[f'stage{k}'] = HRNetStage(num_modules, k, cfg['block'],
                                         num_blocks, num_channels)
    return stages


@MODELS.register_module()
class HRNet(ZeroInitResidualMixin, BaseBackbone):
    """HRNet backbone (the classification HRNet-W18 ... W64).

    Outputs (``out_indices``): the branches of the last stage, 0-3 from high
    to low resolution (strides 4, 8, 16, 32; ``C, 2C, 4C, 8C`` channels);
    all four by default, as mmpretrain (necks such as ``HRFuseScales`` and
    mmseg/mmpose heads consume all four). Only the requested fused maps are
    computed in the last module.

    Stages (``frozen_stages``): 0 is the stem (``conv1``..``bn2``); stage 1
    is ``layer1`` + ``transition1``, stage 2 ``stage2`` + ``transition2``,
    stage 3 ``stage3`` + ``transition3``, stage 4 ``stage4`` (the numbering
    of mmseg's and mmpose's HRNet; mmpretrain's has no ``frozen_stages``).

    Args:
        arch (str): Preset, one of ``'w18'``, ``'w30'``, ``'w32'``,
            ``'w40'``, ``'w44'``, ``'w48'``, ``'w64'``; used when ``extra``
            is None. Default: ``'w32'`` (mmpretrain's default).
        extra (dict, optional): A custom arch in mmpretrain's format: keys
            ``stage1``..``stage4``, each a dict with ``num_modules``,
            ``num_branches`` (stage k has k), ``block`` (``'BASIC'`` or
            ``'BOTTLENECK'``), ``num_blocks`` and ``num_channels`` (one per
            branch).
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config. Default: BN.
        zero_init_residual (bool): Zero the last norm of every residual
            block of stages 2-4 at initialisation.
        multiscale_output (bool): False fuses only the highest-resolution
            branch in the last module (then ``out_indices`` can only be 0).
        upsample_cfg (dict, optional): ``mode``/``align_corners`` of the
            fusion's upsampling. None: ``extra['upsample']`` if given (as
            mmpose), else nearest (mmpretrain, mmdet, mmpose). mmseg's HRNet
            is bilinear, ``align_corners=False``: :data:`UPSAMPLE_MMSEG`;
            the same weights give other features with the other mode.
        pretrained (str, optional): Deprecated (mmseg passes its
            segmentor's ``pretrained`` here): turned into
            ``init_cfg=dict(type='Pretrained', ...)`` with a warning.
        out_indices (int | Sequence[int], optional): Branches to return;
            None: all four (only 0 with ``multiscale_output=False``).

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see
    :class:`~mmbackbones.models.base.BaseBackbone`.

    Defaults are mmpretrain's; mmdet's HRNet has ``norm_eval=True``.
    mmpose's heads that take one map need ``multiscale_output=False``.

    Example:
        >>> import torch
        >>> model = HRNet(arch='w18').eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 18, 16, 16), (1, 36, 8, 8), (1, 72, 4, 4), (1, 144, 2, 2)]
    """

    def __init__(self,
                 arch: str = 'w32',
                 extra: Optional[dict] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 zero_init_residual: bool = False,
                 multiscale_output: bool = True,
                 out_indices: Optional[Union[int, Sequence[int]]] = None,
                 upsample_cfg: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 **kwargs):
        kwargs['init_cfg'] = resolve_pretrained(pretrained,
                                                kwargs.get('init_cfg'))
        # mmpose's HRNet reads it from extra['stage4'] (default False there).
        if isinstance(extra, dict) and isinstance(extra.get('stage4'), dict):
            multiscale_output = extra['stage4'].get('multiscale_output',
                                                    multiscale_output)
        if out_indices is None:
            out_indices = (0, 1, 2, 3) if multiscale_output else (0, )
        super().__init__(out_indices=out_indices, **kwargs)
        if extra is None:
            if arch not in HRNET_ARCHS:
                raise ValueError(
                    f'arch must be one of {list(HRNET_ARCHS)} (or give a '
                    f'custom extra dict), but got {arch!r}')
            stages = HRNET_ARCHS[arch]
        else:
            stages = _parse_extra(extra)
        # mmpose puts the upsampling in extra['upsample']; mmseg's HRNet
        # is UPSAMPLE_MMSEG.
        if upsample_cfg is None:
            upsample_cfg = (extra or {}).get('upsample', UPSAMPLE_NEAREST)
        self.upsample_cfg = _check_upsample(upsample_cfg)
        self.arch = arch if extra is None else 'custom'
        self.extra = {k: s.as_dict() for k, s in stages.items()}
        self.multiscale_output = multiscale_output
        self.zero_init_residual = zero_init_residual
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg

        self._make_stem(self.in_channels, 64)
        # Stage 1: one residual layer (mmpretrain's name ``layer1``).
        s1 = stages['stage1']
        block = BLOCKS[s1.block]
        channels = [s1.num_channels[0] * block.expansion]
        self.layer1 = make_res_layer(block, s1.num_blocks[0], 64,
                                     channels[0], conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg)
        for k in range(2, 5):
            stage = stages[f'stage{k}']
            out_channels = [
                c * BLOCKS[stage.block].expansion for c in stage.num_channels
            ]
            self.add_module(f'transition{k - 1}',
                            self._make_transition(channels, out_channels))
            self.add_module(
                f'stage{k}',
                self._make_stage(stage, out_channels,
                                 multiscale_output or k < 4))
            channels = out_channels

        if not multiscale_output:
            resolved = self.resolve_out_indices(out_indices, 4)
            if resolved != (0, ):
                raise ValueError(
                    'with multiscale_output=False only the highest-'
                    'resolution branch is fused: out_indices must be 0, '
                    f'but got {out_indices!r}')
        # The stages for frozen_stages, grouped as mmseg's and mmpose's
        # HRNet: each stage with the transition that follows it (forward
        # below runs them itself: the branches are lists of maps).
        self.declare_stages(
            stem=['conv1', self.norm1_name, 'conv2', self.norm2_name],
            stages=[['layer1', 'transition1'], ['stage2', 'transition2'],
                    ['stage3', 'transition3'], ['stage4']],
            channels=channels, strides=make_stage_strides(4, [1, 2, 2, 2]))

    # ----------------------------------------------------------------- #
    # Building
    # ----------------------------------------------------------------- #
    def _make_stem(self, in_channels: int, channels: int) -> None:
        """Two 3x3 stride-2 convs (stride 4): ``conv1``, ``bn1``,
        ``conv2``, ``bn2`` as in mmpretrain."""
        common = dict(stride=2, conv_cfg=self.conv_cfg,
                      norm_cfg=self.norm_cfg)
        add_conv_norm(self, 1, in_channels, channels, 3, **common)
        add_conv_norm(self, 2, channels, channels, 3, **common)
        self.relu = nn.ReLU(inplace=True)

    norm1 = norm_property(1)
    norm2 = norm_property(2)

    def _make_transition(self, pre: Sequence[int],
                         cur: Sequence[int]) -> nn.ModuleList:
        """Inputs of the next stage: existing branches keep their
        resolution (a 3x3 conv where the width changes, else the identity);
        each new branch is made from the lowest-resolution one by stride-2
        3x3 convs."""
        common = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                      act_cfg=_RELU)
        layers: List[nn.Module] = []
        for i, channels in enumerate(cur):
            if i < len(pre):
                layers.append(
                    nn.Identity() if channels == pre[i] else conv_norm(
                        pre[i], channels, 3, **common))
                continue
            steps = i + 1 - len(pre)
            layers.append(nn.Sequential(*(conv_norm(
                pre[-1], channels if s == steps - 1 else pre[-1], 3,
                stride=2, **common) for s in range(steps))))
        return nn.ModuleList(layers)

    def _make_stage(self, stage: HRNetStage, channels: Sequence[int],
                    multiscale_output: bool) -> nn.Sequential:
        block = BLOCKS[stage.block]
        return nn.Sequential(*(
            HRModule(block, stage.num_blocks, channels, stage.num_channels,
                     multiscale_output or m < stage.num_modules - 1,
                     conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                     upsample_cfg=self.upsample_cfg)
            for m in range(stage.num_modules)))

    # ----------------------------------------------------------------- #
    # What the base class needs
    # ----------------------------------------------------------------- #
    #: ceil(29 / 4) = 8: the smallest size whose four branches line up.
    min_input_size = 29

    @staticmethod
    def input_size_works(size: int) -> bool:
        """Whether a height or width of ``size`` fits the four branches.

        >>> [s for s in range(1, 66) if HRNet.input_size_works(s)]
        [29, 30, 31, 32, 61, 62, 63, 64]
        """
        return size >= 1 and -(-size // 4) % 8 == 0

    def check_input(self, x: torch.Tensor) -> None:
        """Besides the base checks: the branches must have exactly halving
        sizes for the fusion to add them, i.e. ``ceil(H / 4)`` and
        ``ceil(W / 4)`` multiples of 8 (any multiple of 32 works). Checked
        first: that message names the sizes that work, the base's only
        the smallest."""
        if (isinstance(x, torch.Tensor) and not shape_is_symbolic(x)
                and x.dim() == 4 and not all(
                    self.input_size_works(s) for s in x.shape[2:])):
            raise ValueError(
                f'{type(self).__name__} needs an input whose height and '
                'width make ceil(size / 4) a multiple of 8 (e.g. multiples '
                f'of 32) so that its four branches line up, but x is '
                f'{x.shape[2]}x{x.shape[3]}')
        super().check_input(x)

    # ----------------------------------------------------------------- #
    # Forward
    # ----------------------------------------------------------------- #
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        self.check_input(x)
        x = self.relu(self.norm1(self.conv1(x)))
        x = self.relu(self.norm2(self.conv2(x)))
        xs = [self.run_stage(self.layer1, x)]
        for k in range(2, 5):
            transition = getattr(self, f'transition{k - 1}')
            # New branches come from the lowest resolution so far.
            xs = [
                layer(xs[min(i, len(xs) - 1)])
                for i, layer in enumerate(transition)
            ]
            modules = getattr(self, f'stage{k}')
            for m, module in enumerate(modules):
                last = k == 4 and m == len(modules) - 1
                xs = module(xs, out_branches=self.out_indices if last else
                            None, run_branch=self.run_stage)
        return tuple(xs)

    def zero_init_scope(self) -> List[nn.Module]:
        """``zero_init_residual`` starts the blocks of the HR modules
        (stages 2-4) as the identity, not stage 1's (as mmpretrain)."""
        return [getattr(self, f'stage{k}') for k in range(2, 5)]
