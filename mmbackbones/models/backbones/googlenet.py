"""GoogLeNet / Inception v1 (Szegedy et al., "Going Deeper with
Convolutions", CVPR 2015, Table 1), in torchvision's form: every
convolution is conv-BN-ReLU (BN eps 1e-3), the local response
normalisations of the paper are left out, and the pooling layers round up
(``ceil_mode``).

Module names are torchvision's (``conv1.conv``, ``conv1.bn``,
``inception3a.branch2.1.conv``...), so a torchvision checkpoint loads with
the classifier (``fc``) and auxiliary heads (``aux1``, ``aux2``) dropped --
which the 'torchvision' converter does. mmpretrain and timm have no
GoogLeNet.

The paper's auxiliary classifiers (Sec. 5) are :class:`GoogLeNetAux`
modules of a head (:class:`~mmbackbones.models.heads.AuxClsHead`, keys
``aux1.*`` / ``aux2.*`` as torchvision's); the backbone hands them the
inception4a / 4d maps with ``aux_taps``.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import (BaseBackbone, as_stem_and_rows_arch, check_positive_int,
                    check_rate)
from ..layers import conv_norm_act
from ..taps import TapsMixin

__all__ = [
    'GoogLeNet', 'GoogLeNetAux', 'InceptionBlock', 'InceptionSpec',
    'GOOGLENET_ARCHS'
]


@dataclass(frozen=True)
class InceptionSpec:
    """One row of the paper's Table 1: the output channels of each branch.

    Output channels: ``ch1x1 + ch3x3 + ch5x5 + pool_proj``.
    """
    ch1x1: int  # "#1x1": branch 1
    ch3x3red: int  # "#3x3 reduce": branch 2's 1x1
    ch3x3: int  # "#3x3": branch 2's 3x3
    ch5x5red: int  # "#5x5 reduce": branch 3's 1x1
    ch5x5: int  # "#5x5": branch 3's 5x5 (3x3 in torchvision)
    pool_proj: int  # "pool proj": branch 4's 1x1 after the 3x3 max-pool

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj


class InceptionBlock(nn.Module):
    """An Inception module (paper Fig. 2b): four branches concatenated.

    ``x`` (N, C, H, W) -> cat(1x1; 1x1-3x3; 1x1-kxk; maxpool3x3-1x1) ->
    (N, spec.out_channels, H, W). Keys ``branch1``, ``branch2.{0,1}``,
    ``branch3.{0,1}``, ``branch4.1`` (torchvision's).

    Example:
        >>> block = InceptionBlock(192, InceptionSpec(64, 96, 128, 16, 32, 32))
        >>> block(torch.rand(1, 192, 8, 8)).shape
        torch.Size([1, 256, 8, 8])
    """

    def __init__(self,
                 in_channels: int,
                 spec: InceptionSpec,
                 branch3_kernel_size: int = 3,
                 norm_cfg: Optional[dict] = dict(type='BN', eps=1e-3),
                 act_cfg: Optional[dict] = dict(type='ReLU')):
        super().__init__()
        self.out_channels = spec.out_channels
        kw = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.branch1 = conv_norm_act(in_channels, spec.ch1x1, 1, **kw)
        self.branch2 = nn.Sequential(
            conv_norm_act(in_channels, spec.ch3x3red, 1, **kw),
            conv_norm_act(spec.ch3x3red, spec.ch3x3, 3, **kw))
        self.branch3 = nn.Sequential(
            conv_norm_act(in_channels, spec.ch5x5red, 1, **kw),
            conv_norm_act(spec.ch5x5red, spec.ch5x5, branch3_kernel_size,
                          **kw))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            conv_norm_act(in_channels, spec.pool_proj, 1, **kw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1(x), self.branch2(x), self.branch3(x),
            self.branch4(x)
        ], 1)


@MODELS.register_module()
class GoogLeNetAux(nn.Module):
    """GoogLeNet's auxiliary classifier (paper Sec. 5): 5x5/3 average pool
    (14x14 -> 4x4 on inception4a/4d at 224 px), 1x1 conv with 128 filters
    and ReLU, fc with 1024 units and ReLU, dropout 70%, fc to the classes.

    Keys ``conv.conv``, ``conv.bn``, ``fc1``, ``fc2``: torchvision's
    ``aux1``/``aux2`` (whose conv has BN, as ours by default).

    Args:
        in_channels (int): Channels of the tapped map (512 for 4a, 528
            for 4d).
        num_classes (int): Classes to predict.
        adaptive_pool (bool): False (default): the paper's 5x5/3 pool,
            which gives the 4x4 grid fc1 needs only from 14-16 px maps
            (223-271 px inputs). True: torchvision's adaptive pool to 4x4,
            any map size; needed for torchvision's weights to give its
            outputs.
        dropout (float): Dropout before the last fc. Default 0.7 (paper).
        norm_cfg (dict, optional): Norm after the conv; default BN eps
            1e-3 (torchvision's), ``None`` the paper's conv with bias.
        act_cfg (dict): Activation after the conv. Default ReLU.

    Example:
        >>> aux = GoogLeNetAux(512, num_classes=10)
        >>> aux(torch.rand(2, 512, 14, 14)).shape
        torch.Size([2, 10])
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 adaptive_pool: bool = False,
                 dropout: float = 0.7,
                 norm_cfg: Optional[dict] = dict(type='BN', eps=1e-3),
                 act_cfg: dict = dict(type='ReLU')):
        super().__init__()
        check_positive_int('in_channels', in_channels)
        check_positive_int('num_classes', num_classes)
        if not isinstance(adaptive_pool, bool):
            raise TypeError(
                f'adaptive_pool must be a bool, but got {adaptive_pool!r}')
        check_rate('dropout', dropout)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.adaptive_pool = adaptive_pool
        self.pool = (nn.AdaptiveAvgPool2d(4) if adaptive_pool else
                     nn.AvgPool2d(5, stride=3))
        self.conv = conv_norm_act(in_channels, 128, 1, norm_cfg=norm_cfg,
                                  act_cfg=act_cfg)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        if x.shape[2:] != (4, 4) and not torch.jit.is_tracing():
            raise ValueError(
                'GoogLeNetAux with the paper\'s 5x5/3 pool needs a 14-16 px '
                'map (inception4a/4d of a 223-271 px input) for the 4x4 grid '
                f'fc1 reads, but the pool gave {tuple(x.shape[2:])}; use '
                'adaptive_pool=True (torchvision\'s) for other sizes')
        x = torch.flatten(self.conv(x), 1)  # N x 2048
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


#: Paper Table 1 (the one GoogLeNet): ``stem`` is (conv1's channels,
#: conv3's channels) -- conv2 (the 1x1 "reduce") keeps conv1's -- and
#: ``inception3/4/5`` the Inception rows of each resolution, in order
#: (``inception3a``, ``inception3b``...).
GOOGLENET_ARCHS: Dict[str, dict] = {
    'googlenet': dict(
        stem=(64, 192),
        inception3=[
            InceptionSpec(64, 96, 128, 16, 32, 32),  # 3a
            InceptionSpec(128, 128, 192, 32, 96, 64),  # 3b
        ],
        inception4=[
            InceptionSpec(192, 96, 208, 16, 48, 64),  # 4a
            InceptionSpec(160, 112, 224, 24, 64, 64),  # 4b
            InceptionSpec(128, 128, 256, 24, 64, 64),  # 4c
            InceptionSpec(112, 144, 288, 32, 64, 64),  # 4d
            InceptionSpec(256, 160, 320, 32, 128, 128),  # 4e
        ],
        inception5=[
            InceptionSpec(256, 160, 320, 32, 128, 128),  # 5a
            InceptionSpec(384, 192, 384, 48, 128, 128),  # 5b
        ]),
}

_GROUPS = ('inception3', 'inception4', 'inception5')


def _as_spec(row, name: str) -> InceptionSpec:
    if isinstance(row, InceptionSpec):
        row = (row.ch1x1, row.ch3x3red, row.ch3x3, row.ch5x5red, row.ch5x5,
               row.pool_proj)
    if isinstance(row, dict):
        try:
            row = InceptionSpec(**row)
        except TypeError as e:
            raise ValueError(f'{name} must have the fields of InceptionSpec '
                             f'(ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, '
                             f'pool_proj): {e}') from None
        row = (row.ch1x1, row.ch3x3red, row.ch3x3, row.ch5x5red, row.ch5x5,
               row.pool_proj)
    if (isinstance(row, (str, bytes)) or not isinstance(row, Sequence)
            or len(row) != 6):
        raise ValueError(f'{name} must be 6 ints (ch1x1, ch3x3red, ch3x3, '
                         f'ch5x5red, ch5x5, pool_proj), but got {row!r}')
    return InceptionSpec(*(check_positive_int(name, v) for v in row))


@MODELS.register_module()
class GoogLeNet(TapsMixin, BaseBackbone):
    """GoogLeNet (Inception v1) backbone, torchvision's form.

    Stem: conv1 (7x7/2) and maxpool1 (3x3/2): stride 4. Four stages
    (``out_indices``), strides 4, 8, 16, 32:

    0. conv2 (1x1) and conv3 (3x3): 192 channels, stride 4;
    1. maxpool2, inception3a-b: 480 channels, stride 8;
    2. maxpool3, inception4a-e: 832 channels, stride 16;
    3. maxpool4 (2x2), inception5a-b: 1024 channels, stride 32 (default).

    The auxiliary classifiers (on inception4a and 4d) belong to a head
    (:class:`GoogLeNetAux` in an ``AuxClsHead``), not to the backbone:
    ``aux_taps=('inception4a', 'inception4d')`` makes it return those maps
    first, then the ``out_indices`` outputs, in train and eval mode alike
    (``feature_info`` lists them in the same order). torchvision's
    ``transform_input`` (re-normalising ImageNet-normalised input to
    [-1, 1]) is the data preprocessor's job.

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        arch (str | dict): ``'googlenet'`` (paper Table 1), or a dict with
            ``stem`` (conv1 and conv3 channels) and ``inception3``,
            ``inception4``, ``inception5``: lists of Inception rows
            (:class:`InceptionSpec`, 6 ints or a dict of its fields).
        branch3_kernel_size (int): Kernel of the "5x5" branch: 3 (default)
            is torchvision's (its checkpoints have it; pytorch/vision#906),
            5 is the paper's.
        norm_cfg (dict, optional): Norm after every conv. Default BN with
            eps 1e-3 (torchvision's); ``None`` gives the paper's
            convolutions with bias and no normalisation.
        act_cfg (dict): Activation. Default: ReLU.
        aux_taps (Sequence[str]): Inception blocks (``'inception3a'`` ...
            ``'inception5b'``) whose outputs are returned before the
            ``out_indices`` outputs, for auxiliary classifiers. Default
            none.

    Example:
        >>> model = GoogLeNet(out_indices=(0, 1, 2, 3))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 192, 16, 16), (1, 480, 8, 8), (1, 832, 4, 4), (1, 1024, 2, 2)]
    """

    def __init__(self,
                 arch: Union[str, dict] = 'googlenet',
                 branch3_kernel_size: int = 3,
                 norm_cfg: Optional[dict] = dict(type='BN', eps=1e-3),
                 act_cfg: dict = dict(type='ReLU'),
                 out_indices: Union[int, Sequence[int]] = -1,
                 aux_taps: Sequence[str] = (),
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        spec = as_stem_and_rows_arch(arch, GOOGLENET_ARCHS, _GROUPS,
                                     _as_spec)
        if branch3_kernel_size not in (3, 5):
            raise ValueError('branch3_kernel_size must be 3 (torchvision) or '
                             f'5 (the paper), but got {branch3_kernel_size!r}')
        self.arch = spec
        self.branch3_kernel_size = branch3_kernel_size
        kw = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        c1, c3 = spec['stem']

        # Stem (stride 4) and stage 0: paper Table 1's first rows.
        self.conv1 = conv_norm_act(self.in_channels, c1, 7, stride=2, **kw)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = conv_norm_act(c1, c1, 1, **kw)
        self.conv3 = conv_norm_act(c1, c3, 3, **kw)
        stages = [['conv2', 'conv3']]
        channels = [c3]

        # Stages 1-3: a stride-2 max-pool, then the Inception modules
        # (torchvision's maxpool4 is 2x2, the paper's 3x3).
        for k, group in enumerate(_GROUPS):
            pool = nn.MaxPool2d(3 if k < 2 else 2, stride=2, ceil_mode=True)
            self.add_module(f'maxpool{k + 2}', pool)
            members = [f'maxpool{k + 2}']
            in_ch = channels[-1]
            for j, row in enumerate(spec[group]):
                block = InceptionBlock(in_ch, row, branch3_kernel_size, **kw)
                self.add_module(f'{group}{chr(ord("a") + j)}', block)
                members.append(f'{group}{chr(ord("a") + j)}')
                in_ch = row.out_channels
            stages.append(members)
            channels.append(in_ch)

        blocks = {name: m for name, m in self.named_children()
                  if isinstance(m, InceptionBlock)}
        self.aux_taps = self.check_tap_names(aux_taps, list(blocks))
        for name in self.aux_taps:
            self.add_tap(name, blocks[name], blocks[name].out_channels)
        self.declare_stages(stem=['conv1', 'maxpool1'], stages=stages,
                            channels=channels, strides=(4, 8, 16, 32))
        # conv1 (/2) and the three unpadded 3x3/2 ceil-mode pools: maxpool3
        # gets a 1x1 map (and fails) below 15x15 input (tested).
        self.min_input_size = 15
