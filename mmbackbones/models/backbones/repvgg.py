"""RepVGG (Ding et al., "RepVGG: Making VGG-style ConvNets Great Again",
CVPR 2021).

Training form: every block sums three branches -- 3x3 conv + BN, 1x1 conv +
BN and, where input and output shapes agree, a BN on the identity -- and
applies ReLU (paper Fig. 2b). Deploy form: the three branches are one 3x3
convolution with bias (Sec. 3.3, Fig. 4), so the network is a plain stack of
3x3 convolutions and ReLUs. ``RepVGGBlock.switch_to_deploy()`` converts a
block, :func:`mmbackbones.deploy.convert_to_deploy` any model, and
``tools/deploy.py`` a checkpoint.

Module names follow mmpretrain's ``RepVGG`` (training and deploy form), so
its checkpoints load as they are; ``mmbackbones.converters`` maps timm's
``repvgg_*``.
"""
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmcv.cnn import build_activation_layer
from torch.nn.modules.batchnorm import _BatchNorm

from mmbackbones.registry import MODELS
from ..base import BaseBackbone, as_named_arch, make_stage_strides
from ..layers import (SELayer, conv2d_relu, fold_bn, make_divisible,
                      mmpretrain_se_layer, pad_kernel)

__all__ = ['RepVGG', 'RepVGGBlock', 'RepVGGArch', 'REPVGG_ARCHS']


#: A strided 1x1 branch with fewer input channels than this subsamples
#: first (see :class:`ConvBNBranch`).
SUBSAMPLE_BELOW_CHANNELS = 16


class ConvBNBranch(nn.Module):
    """One conv + BN branch of a RepVGG block (keys ``conv``, ``norm``).

    A strided 1x1 branch with fewer than 16 input channels (RepVGG's stem)
    subsamples, then convolves with stride 1: the same function (a 1x1
    kernel at stride ``s`` reads exactly ``x[:, :, ::s, ::s]``), which
    avoids the PyTorch CPU crash (a segfault, torch 2.14.1, 2 threads) in
    the channels_last backward of 1x1 stride-2 convolutions with fewer than
    16 input channels. Wider 1x1 branches convolve with the stride
    themselves, as mmpretrain's do: the slice's copy (forward) and its
    zero-filled gradient (backward) cost more than the strided kernel.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int, padding: int, dilation: int, groups: int,
                 conv_cfg: Optional[dict], norm_cfg: dict,
                 padding_mode: str = 'zeros'):
        super().__init__()
        self.subsample = (stride if kernel_size == 1 and
                          in_channels < SUBSAMPLE_BELOW_CHANNELS else 1)
        self.conv = build_conv_layer(
            conv_cfg, in_channels, out_channels, kernel_size,
            stride=stride // self.subsample, padding=padding,
            dilation=dilation, groups=groups, bias=False,
            padding_mode=padding_mode)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.subsample > 1:
            x = x[:, :, ::self.subsample, ::self.subsample]
        return self.norm(self.conv(x))


def _build_se(channels: int, se_cfg: Mapping) -> SELayer:
    """An SE layer from mmpretrain's ``se_cfg`` (``ratio``, ``divisor``,
    ``squeeze_channels``, ``act_cfg``), with mmpretrain's defaults."""
    unknown = set(se_cfg) - {'ratio', 'divisor', 'squeeze_channels',
                             'act_cfg'}
    if unknown:
        raise ValueError(f'se_cfg has unknown keys {sorted(unknown)}; valid: '
                         "'ratio', 'divisor', 'squeeze_channels', 'act_cfg'")
    squeeze = se_cfg.get('squeeze_channels')
    if squeeze is None:
        squeeze = make_divisible(channels // se_cfg.get('ratio', 16),
                                 se_cfg.get('divisor', 8))
    act_cfg = se_cfg.get('act_cfg',
                         (dict(type='ReLU'), dict(type='Sigmoid')))
    if isinstance(act_cfg, dict):
        act_cfg = (act_cfg, act_cfg)
    return mmpretrain_se_layer(channels, squeeze, act_cfg[0], act_cfg[1])


def identity_kernel(channels: int, groups: int, size: int = 3,
                    like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The (C, C/groups, size, size) kernel of a grouped convolution that
    copies its input: output channel ``i`` reads input ``i`` (index
    ``i % (C/groups)`` inside its group) at the kernel's centre."""
    per_group = channels // groups
    kernel = torch.zeros(channels, per_group, size, size)
    if like is not None:
        kernel = kernel.to(like)
    index = torch.arange(channels)
    kernel[index, index % per_group, size // 2, size // 2] = 1
    return kernel


class RepVGGBlock(nn.Module):
    """RepVGG block: ``act(se(bn3x3(x) + bn1x1(x) + bn(x)))`` in training
    form, ``act(se(conv3x3(x)))`` in deploy form.

    The identity BN exists only where the block keeps its shape (same
    channels, stride 1, "same" padding). In deploy form with a ReLU and no
    SE, CPU inference runs the conv and the ReLU as one oneDNN call
    (:func:`~mmbackbones.models.layers.conv2d_relu`).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the 3x3 and 1x1 branches.
        padding (int): Padding of the 3x3 branch; must equal ``dilation``
            (the branches' outputs are summed, so they must have one size).
        dilation (int): Dilation of the 3x3 branch.
        groups (int): Groups of the 3x3 and 1x1 convolutions.
        padding_mode (str): Padding mode of the 3x3 convolution.
        se_cfg (dict, optional): mmpretrain's SE config (``ratio``,
            ``divisor``...); None for no SE (all presets but D2se).
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config; ``switch_to_deploy`` needs BatchNorm.
        act_cfg (dict): Activation config. Default: ReLU in place (its
            input is always a fresh tensor -- the branch sum, the SE
            output or the deploy conv's output -- and skipping one
            allocation per block makes the deploy form ~15% faster on CPU).
        deploy (bool): Build the deploy form (``branch_reparam``) directly.

    Keys: training form ``branch_3x3`` / ``branch_1x1`` (``conv``, ``norm``)
    and ``branch_norm``; deploy form ``branch_reparam``; ``se_layer``.

    Example:
        >>> block = RepVGGBlock(32, 64, stride=2)
        >>> block(torch.rand(1, 32, 16, 16)).shape
        torch.Size([1, 64, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 padding: int = 1,
                 dilation: int = 1,
                 groups: int = 1,
                 padding_mode: str = 'zeros',
                 se_cfg: Optional[dict] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 deploy: bool = False):
        super().__init__()
        if padding != dilation:
            raise ValueError(
                f'RepVGGBlock needs padding == dilation (the 3x3 and 1x1 '
                f'branches must give one size), but got padding={padding}, '
                f'dilation={dilation}')
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f'groups={groups} must divide in_channels={in_channels} and '
                f'out_channels={out_channels}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.padding_mode = padding_mode
        self.conv_cfg = conv_cfg
        self.deploy = deploy

        if deploy:
            self.branch_reparam = self._make_reparam_conv()
        else:
            keeps_shape = in_channels == out_channels and stride == 1
            self.branch_norm = (build_norm_layer(norm_cfg, in_channels)[1]
                                if keeps_shape else None)
            common = dict(stride=stride, groups=groups, conv_cfg=conv_cfg,
                          norm_cfg=norm_cfg)
            self.branch_3x3 = ConvBNBranch(
                in_channels, out_channels, 3, padding=padding,
                dilation=dilation, padding_mode=padding_mode, **common)
            self.branch_1x1 = ConvBNBranch(in_channels, out_channels, 1,
                                           padding=0, dilation=1, **common)
        self.se_layer = (_build_se(out_channels, se_cfg)
                         if se_cfg is not None else None)
        self.act = build_activation_layer(act_cfg)

    def _make_reparam_conv(self) -> nn.Module:
        return build_conv_layer(
            self.conv_cfg, self.in_channels, self.out_channels, 3,
            stride=self.stride, padding=self.padding, dilation=self.dilation,
            groups=self.groups, bias=True, padding_mode=self.padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            if self.se_layer is None and type(self.act) is nn.ReLU:
                return conv2d_relu(self.branch_reparam, x)
            out = self.branch_reparam(x)
        else:
            # Summed in place into the 3x3 branch's BN output (BN's backward
            # does not need its output): two fewer activation-sized
            # allocations per block, the same additions in the same order.
            out = self.branch_3x3(x)
            out += self.branch_1x1(x)
            if self.branch_norm is not None:
                out += self.branch_norm(x)
        if self.se_layer is not None:
            out = self.se_layer(out)
        return self.act(out)

    def equivalent_kernel_bias(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The (kernel, bias) of the one 3x3 convolution equal to the sum of
        the three branches (BN in eval mode, i.e. its running statistics)."""
        branches = [self.branch_3x3.norm, self.branch_1x1.norm]
        if self.branch_norm is not None:
            branches.append(self.branch_norm)
        for norm in branches:
            if not isinstance(norm, _BatchNorm):
                raise TypeError(
                    'RepVGGBlock.switch_to_deploy needs BatchNorm branches '
                    f'(norm_cfg type BN or SyncBN), but found '
                    f'{type(norm).__name__}')
        kernel, bias = fold_bn(self.branch_3x3.conv.weight, None,
                               self.branch_3x3.norm)
        k1x1, b1x1 = fold_bn(self.branch_1x1.conv.weight, None,
                             self.branch_1x1.norm)
        kernel, bias = kernel + pad_kernel(k1x1, 3), bias + b1x1
        if self.branch_norm is not None:
            # BN(x) == BN(conv(x, identity kernel)).
            k_id, b_id = fold_bn(
                identity_kernel(self.in_channels, self.groups,
                                like=kernel), None, self.branch_norm)
            kernel, bias = kernel + k_id, bias + b_id
        return kernel, bias

    def switch_to_deploy(self) -> None:
        """Replace the three branches by one 3x3 convolution (in place,
        idempotent)."""
        if self.deploy:
            return
        with torch.no_grad():
            kernel, bias = self.equivalent_kernel_bias()
        conv = self._make_reparam_conv().to(kernel)
        with torch.no_grad():
            conv.weight.copy_(kernel)
            conv.bias.copy_(bias)
        del self.branch_3x3, self.branch_1x1, self.branch_norm
        self.branch_reparam = conv
        self.deploy = True


@dataclass(frozen=True)
class RepVGGArch:
    """One RepVGG network: paper Table 2 (depths) with Table 3's width
    multipliers ``a`` (stages 2-4) and ``b`` (stage 5)."""
    num_blocks: Tuple[int, ...]  # blocks of stage_1..stage_4 (paper 2-5)
    width_factor: Tuple[float, ...]  # (a, a, a, b): channels 64a.., 512b
    # Global layer index (the stem is 0) -> groups of that layer's 3x3 and
    # 1x1 convs; None: dense everywhere.
    group_layer_map: Optional[Mapping[int, int]] = None
    se_cfg: Optional[Mapping] = None  # SE after the branch sum (D2se)
    stem_channels: int = 64  # the stem has min(64, 64a) channels (Table 2)


_A_DEPTHS = (2, 4, 14, 1)  # RepVGG-A, Table 2
_B_DEPTHS = (4, 6, 16, 1)  # RepVGG-B, Table 2
# Sec. 3.4: groupwise 3x3 convs in the 3rd, 5th, ..., 27th layer (counting
# the stem as the 1st), i.e. global indices 2, 4, ..., 26.
_GROUPWISE_LAYERS = range(2, 27, 2)
_G2 = {layer: 2 for layer in _GROUPWISE_LAYERS}
_G4 = {layer: 4 for layer in _GROUPWISE_LAYERS}

#: Presets: paper Table 3 (a, b) and Sec. 3.4 (g2/g4). D2se comes from the
#: authors' repository (deeper B2 with SE, ratio 16), as in mmpretrain/timm.
REPVGG_ARCHS: Dict[str, RepVGGArch] = {
    'A0': RepVGGArch(_A_DEPTHS, (0.75, 0.75, 0.75, 2.5)),
    'A1': RepVGGArch(_A_DEPTHS, (1, 1, 1, 2.5)),
    'A2': RepVGGArch(_A_DEPTHS, (1.5, 1.5, 1.5, 2.75)),
    'B0': RepVGGArch(_B_DEPTHS, (1, 1, 1, 2.5)),
    'B1': RepVGGArch(_B_DEPTHS, (2, 2, 2, 4)),
    'B1g2': RepVGGArch(_B_DEPTHS, (2, 2, 2, 4), _G2),
    'B1g4': RepVGGArch(_B_DEPTHS, (2, 2, 2, 4), _G4),
    'B2': RepVGGArch(_B_DEPTHS, (2.5, 2.5, 2.5, 5)),
    'B2g2': RepVGGArch(_B_DEPTHS, (2.5, 2.5, 2.5, 5), _G2),
    'B2g4': RepVGGArch(_B_DEPTHS, (2.5, 2.5, 2.5, 5), _G4),
    'B3': RepVGGArch(_B_DEPTHS, (3, 3, 3, 5)),
    'B3g2': RepVGGArch(_B_DEPTHS, (3, 3, 3, 5), _G2),
    'B3g4': RepVGGArch(_B_DEPTHS, (3, 3, 3, 5), _G4),
    'D2se': RepVGGArch((8, 14, 24, 1), (2.5, 2.5, 2.5, 5),
                       se_cfg=dict(ratio=16, divisor=1)),
}

_ARCH_KEYS = ('num_blocks', 'width_factor', 'group_layer_map', 'se_cfg',
              'stem_channels')


def _as_arch(arch: Union[str, dict, RepVGGArch]) -> RepVGGArch:
    """A preset name, a RepVGGArch, or mmpretrain's custom arch dict."""
    if isinstance(arch, RepVGGArch):
        return arch
    if not isinstance(arch, (str, dict)):
        raise TypeError(f'arch must be a preset name or a dict, but got '
                        f'{type(arch).__name__}')
    arch = as_named_arch(arch, REPVGG_ARCHS,
                         required_keys=_ARCH_KEYS[:2],
                         optional_keys=_ARCH_KEYS[2:])
    if isinstance(arch, RepVGGArch):
        return arch
    if len(arch['num_blocks']) != len(arch['width_factor']):
        raise ValueError(
            f"custom arch: num_blocks {list(arch['num_blocks'])} and "
            f"width_factor {list(arch['width_factor'])} must have one entry "
            'per stage')
    return RepVGGArch(
        tuple(arch['num_blocks']), tuple(arch['width_factor']),
        arch.get('group_layer_map'), arch.get('se_cfg'),
        arch.get('stem_channels', 64))


@MODELS.register_module()
class RepVGG(BaseBackbone):
    """RepVGG backbone (mmpretrain's arguments and module names).

    Outputs (``out_indices``): stages 0-3 are ``stage_1``-``stage_4``
    (paper stages 2-5, strides 4, 8, 16, 32); the stem is paper stage 1.

    Args:
        arch (str | dict): A preset of :data:`REPVGG_ARCHS` ('A0', 'A1',
            'A2', 'B0', 'B1', 'B1g2', 'B1g4', 'B2', 'B2g2', 'B2g4', 'B3',
            'B3g2', 'B3g4', 'D2se') or a dict with ``num_blocks`` and
            ``width_factor`` (and optionally ``group_layer_map``,
            ``se_cfg``, ``stem_channels``), as in mmpretrain.
        base_channels (int): Stage ``i`` has ``base_channels * 2**i *
            width_factor[i]`` channels.
        strides (Sequence[int]): Stride of each stage's first block.
        dilations (Sequence[int]): Dilation of each stage's blocks.
        conv_cfg (dict, optional): Convolution config.
        norm_cfg (dict): Norm config; BN (or SyncBN) to re-parameterise.
        act_cfg (dict): Activation config. Default: ReLU, in place.
        deploy (bool): Build the deploy form (one 3x3 conv per block).
        add_ppf (bool): mmpretrain's YOLOX-PAI neck piece; not supported
            (must be False).

    Example:
        >>> model = RepVGG('A0', out_indices=(0, 1, 2, 3))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 48, 16, 16), (1, 96, 8, 8), (1, 192, 4, 4), (1, 1280, 2, 2)]
        >>> model.switch_to_deploy()  # same outputs, plain 3x3 convs
    """

    def __init__(self,
                 arch: Union[str, dict],
                 in_channels: int = 3,
                 base_channels: int = 64,
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 strides: Sequence[int] = (2, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 with_cp: bool = False,
                 deploy: bool = False,
                 norm_eval: bool = False,
                 add_ppf: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(
            out_indices=out_indices, frozen_stages=frozen_stages,
            norm_eval=norm_eval, with_cp=with_cp, in_channels=in_channels,
            init_cfg=init_cfg)
        if add_ppf:
            raise ValueError('add_ppf=True (the YOLOX-PAI MTSPPF neck) is not '
                             'supported by mmbackbones.RepVGG')
        self.arch = _as_arch(arch)
        num_stages = len(self.arch.num_blocks)
        if len(strides) != num_stages or len(dilations) != num_stages:
            raise ValueError(
                f'strides {tuple(strides)} and dilations {tuple(dilations)} '
                f'need one entry per stage ({num_stages})')
        self.base_channels = base_channels
        self.deploy = deploy
        self._block_args = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                act_cfg=act_cfg, deploy=deploy,
                                se_cfg=self.arch.se_cfg)

        channels = min(self.arch.stem_channels,
                       int(base_channels * self.arch.width_factor[0]))
        self.stem = RepVGGBlock(in_channels, channels, stride=2,
                                **self._block_args)
        stage_channels = []
        layer = 1  # global layer index of the next block (the stem is 0)
        for i, num_blocks in enumerate(self.arch.num_blocks):
            out_channels = int(base_channels * 2**i *
                               self.arch.width_factor[i])
            stage = self._make_stage(channels, out_channels, num_blocks,
                                     strides[i], dilations[i], layer)
            self.add_module(f'stage_{i + 1}', stage)
            layer += num_blocks
            channels = out_channels
            stage_channels.append(out_channels)
        #: The stage names, as mmpretrain's RepVGG lists them.
        self.stages = [f'stage_{i + 1}' for i in range(num_stages)]
        self.declare_stages(
            stem=['stem'], stages=[self.blocks(s) for s in self.stages],
            channels=stage_channels, strides=make_stage_strides(2, strides))

    def _make_stage(self, in_channels: int, out_channels: int,
                    num_blocks: int, stride: int, dilation: int,
                    first_layer: int) -> nn.Sequential:
        group_map = self.arch.group_layer_map or {}
        blocks = []
        for i in range(num_blocks):
            blocks.append(
                RepVGGBlock(
                    in_channels if i == 0 else out_channels, out_channels,
                    stride=stride if i == 0 else 1, padding=dilation,
                    dilation=dilation,
                    groups=group_map.get(first_layer + i, 1),
                    **self._block_args))
        return nn.Sequential(*blocks)

    def switch_to_deploy(self) -> None:
        """Re-parameterise every block in place (mmpretrain's API)."""
        for module in list(self.modules()):
            if isinstance(module, RepVGGBlock):
                module.switch_to_deploy()
        self.deploy = True
