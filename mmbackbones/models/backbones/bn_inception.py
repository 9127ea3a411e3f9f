"""BN-Inception / Inception v2 (Ioffe & Szegedy, "Batch Normalization:
Accelerating Deep Network Training by Reducing Internal Covariate Shift",
ICML 2015, Appendix Fig. 5), as the Caffe model that the PyTorch ports
(Cadene's ``pretrainedmodels.bninception``, ``pytorchcv`` ``bninception``)
and the video models that start from it (TSN) use.

Compared with GoogLeNet (Fig. 5 is its Table 1 with these changes): BN
after every convolution; the 5x5 branch becomes two stacked 3x3 ("double
3x3"); average pooling in the pool branch; and the grid reductions are
Inception blocks with stride-2 convolutions next to a max-pool whose output
is passed through (3c, 4e), instead of max-pools between the blocks.

What the Caffe port fixes and we keep, so that its weights give its
outputs:

* convolutions keep their bias although a BN follows (as trained in Caffe;
  the parameter count of 11,295,240 with the fc includes them);
* BN is PyTorch's default (eps 1e-5, momentum 0.1, affine);
* pooling rounds up (``ceil_mode=True``, Caffe's rounding), the stride-1
  average pools count the padding (Caffe's AVE pooling) and 5b pools by max
  (Fig. 5's "max + 128").

In the reductions (3c, 4e) the padded stride-2 convolutions and the
unpadded, rounded-up max-pool beside them agree on even-sized maps only, so
only input sides of 32k - 1 to 32k + 6 pixels work (224 and 256 do, 299
does not): :meth:`BNInception.check_input` says so and names the nearest
sizes that work.
"""
import math
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import (BaseBackbone, as_stem_and_rows_arch,
                    check_positive_int, shape_is_symbolic)
from ..layers import conv_norm_act

__all__ = [
    'BNInception', 'BNInceptionBlock', 'BNInceptionSpec', 'BN_INCEPTION_ARCHS'
]


def _conv(in_channels: int, out_channels: int, kernel_size: int,
          stride: int = 1, **kwargs) -> nn.Module:
    """conv-norm-act; the conv bias before BN is deliberate here (the
    Caffe weights have it), so mmcv's warning about it is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', 'Unnecessary conv bias')
        return conv_norm_act(in_channels, out_channels, kernel_size,
                             stride=stride, **kwargs)


@dataclass(frozen=True)
class BNInceptionSpec:
    """One row of the BN paper's Fig. 5 (an Inception module).

    Output channels: ``ch1x1 + ch3x3 + dbl3x3`` plus ``pool_proj``, or plus
    the input's channels when ``pool_proj`` is 0 ("pass through").
    """
    ch1x1: int  # "#1x1": branch 1 (0: none, the stride-2 rows)
    ch3x3red: int  # "#3x3 reduce": branch 2's 1x1
    ch3x3: int  # "#3x3": branch 2's 3x3
    dbl3x3red: int  # "double #3x3 reduce": branch 3's 1x1
    dbl3x3: int  # "double #3x3": branch 3's two 3x3
    pool: str  # "Pool +proj": 'avg' or 'max'
    pool_proj: int  # the 1x1 after the pool (0: "pass through")
    stride: int = 1  # 2: a grid reduction (rows 3c and 4e)

    def out_channels(self, in_channels: int) -> int:
        return (self.ch1x1 + self.ch3x3 + self.dbl3x3 +
                (self.pool_proj or in_channels))


class BNInceptionBlock(nn.Module):
    """An Inception module of Fig. 5: up to four branches, concatenated.

    ``x`` (N, C, H, W) -> cat(1x1; 1x1-3x3; 1x1-3x3-3x3; pool[-1x1]) ->
    (N, spec.out_channels(C), H / stride, W / stride). Keys ``branch1``,
    ``branch2.{0,1}``, ``branch3.{0,1,2}``, ``branch4.1`` (``branch4.0`` is
    the pool); a stride-2 row has no ``branch1`` and its pool branch has no
    convolution.

    Example:
        >>> spec = BNInceptionSpec(64, 64, 64, 64, 96, 'avg', 32)
        >>> BNInceptionBlock(192, spec)(torch.rand(1, 192, 28, 28)).shape
        torch.Size([1, 256, 28, 28])
        >>> spec = BNInceptionSpec(0, 128, 160, 64, 96, 'max', 0, stride=2)
        >>> BNInceptionBlock(320, spec)(torch.rand(1, 320, 28, 28)).shape
        torch.Size([1, 576, 14, 14])
    """

    def __init__(self,
                 in_channels: int,
                 spec: BNInceptionSpec,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 conv_bias: Union[bool, str] = True):
        super().__init__()
        kw = dict(norm_cfg=norm_cfg, act_cfg=act_cfg, bias=conv_bias)
        s = spec.stride
        if spec.ch1x1:
            self.branch1 = _conv(in_channels, spec.ch1x1, 1, **kw)
        self.branch2 = nn.Sequential(
            _conv(in_channels, spec.ch3x3red, 1, **kw),
            _conv(spec.ch3x3red, spec.ch3x3, 3, stride=s, **kw))
        self.branch3 = nn.Sequential(
            _conv(in_channels, spec.dbl3x3red, 1, **kw),
            _conv(spec.dbl3x3red, spec.dbl3x3, 3, **kw),
            _conv(spec.dbl3x3, spec.dbl3x3, 3, stride=s, **kw))
        # Stride 1: a padded 3x3 pool keeps the size (the average counts the
        # padding, as Caffe's). Stride 2: Caffe's unpadded, rounded-up pool.
        pool_kw = dict(stride=s, padding=1 if s == 1 else 0, ceil_mode=True)
        pool = (nn.AvgPool2d(3, count_include_pad=True, **pool_kw)
                if spec.pool == 'avg' else nn.MaxPool2d(3, **pool_kw))
        self.branch4 = nn.Sequential(pool)
        if spec.pool_proj:
            self.branch4.append(
                _conv(in_channels, spec.pool_proj, 1, **kw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.branch1(x)] if hasattr(self, 'branch1') else []
        outs += [self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(outs, 1)


def _row(ch1x1, ch3x3red, ch3x3, dbl3x3red, dbl3x3, pool, pool_proj,
         stride=1) -> BNInceptionSpec:
    return BNInceptionSpec(ch1x1, ch3x3red, ch3x3, dbl3x3red, dbl3x3, pool,
                           pool_proj, stride)


#: The BN paper's Fig. 5. ``stem`` is (conv1's channels, conv3's channels)
#: -- conv2, the 1x1 "reduce" of the 3x3, keeps conv1's 64 -- and
#: ``inception3/4/5`` the rows of each group, in order (``inception3a``,
#: ``inception3b``...). Columns: #1x1, #3x3 reduce, #3x3, double #3x3
#: reduce, double #3x3, pool, pool proj (0: pass through), stride.
BN_INCEPTION_ARCHS: Dict[str, dict] = {
    'bn_inception': dict(
        stem=(64, 192),
        inception3=[
            _row(64, 64, 64, 64, 96, 'avg', 32),  # 3a: 256
            _row(64, 64, 96, 64, 96, 'avg', 64),  # 3b: 320
            _row(0, 128, 160, 64, 96, 'max', 0, stride=2),  # 3c: 576
        ],
        inception4=[
            _row(224, 64, 96, 96, 128, 'avg', 128),  # 4a: 576
            _row(192, 96, 128, 96, 128, 'avg', 128),  # 4b: 576
            _row(160, 128, 160, 128, 160, 'avg', 128),  # 4c: 608
            _row(96, 128, 192, 160, 192, 'avg', 128),  # 4d: 608
            _row(0, 128, 192, 192, 256, 'max', 0, stride=2),  # 4e: 1056
        ],
        inception5=[
            _row(352, 192, 320, 160, 224, 'avg', 128),  # 5a: 1024
            _row(352, 192, 320, 192, 224, 'max', 128),  # 5b: 1024
        ]),
}

_GROUPS = ('inception3', 'inception4', 'inception5')
_FIELDS = ('ch1x1', 'ch3x3red', 'ch3x3', 'dbl3x3red', 'dbl3x3', 'pool',
           'pool_proj', 'stride')


def _as_spec(row, name: str) -> BNInceptionSpec:
    if isinstance(row, BNInceptionSpec):
        row = tuple(getattr(row, f) for f in _FIELDS)
    elif isinstance(row, dict):
        unknown = sorted(set(row) - set(_FIELDS))
        missing = [f for f in _FIELDS[:-1] if f not in row]
        if unknown or missing:
            raise ValueError(f'{name} must have the fields {list(_FIELDS)} '
                             f'(stride optional), but got {sorted(row)}')
        row = tuple(row.get(f, 1) for f in _FIELDS)
    if (isinstance(row, (str, bytes)) or not isinstance(row, Sequence)
            or len(row) not in (7, 8)):
        raise ValueError(f'{name} must be 7 or 8 values {list(_FIELDS)}, '
                         f'but got {row!r}')
    ch1x1, ch3x3red, ch3x3, dbl3x3red, dbl3x3, pool, pool_proj, *stride = row
    stride = stride[0] if stride else 1
    if pool not in ('avg', 'max'):
        raise ValueError(f"{name}: pool must be 'avg' or 'max', but got "
                         f'{pool!r}')
    if stride not in (1, 2):
        raise ValueError(f'{name}: stride must be 1 or 2, but got '
                         f'{stride!r}')
    for field, value, minimum in (('ch1x1', ch1x1, 0),
                                  ('pool_proj', pool_proj, 0)):
        check_positive_int(f'{name} {field}', value, minimum)
    for field, value in (('ch3x3red', ch3x3red), ('ch3x3', ch3x3),
                         ('dbl3x3red', dbl3x3red), ('dbl3x3', dbl3x3)):
        check_positive_int(f'{name} {field}', value)
    if stride == 2 and (ch1x1 or pool != 'max'):
        # Fig. 5's reductions: a 1x1 branch or an average pool would have
        # to be strided too, which the paper never does.
        raise ValueError(f"{name}: a stride-2 row has ch1x1=0 and pool='max'"
                         f' (Fig. 5, rows 3c and 4e), but got ch1x1={ch1x1},'
                         f' pool={pool!r}')
    return BNInceptionSpec(ch1x1, ch3x3red, ch3x3, dbl3x3red, dbl3x3, pool,
                           pool_proj, stride)


# --------------------------------------------------------------------- #
# Which input sizes work (PyTorch's output-size rules, one spatial side)
# --------------------------------------------------------------------- #
def _conv_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _pool_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """A ``ceil_mode`` pool; PyTorch drops a last window that would start
    in the padding."""
    out = math.ceil((size + 2 * padding - kernel) / stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _side_problem(size: int,
                  rows: Sequence[Tuple[str, int]]) -> Optional[str]:
    """Why one input side of ``size`` pixels fails, or None if it works.

    ``rows``: (module name, stride) of each Inception row, in order.
    """
    size = _conv_size(size, 7, 2, 3)  # conv1
    for name in ('maxpool1', 'maxpool2'):  # conv2 and conv3 keep the size
        pooled = _pool_size(size, 3, 2, 0)
        if pooled < 1:
            return f'{name} gets a {size}-pixel map, too small for it'
        size = pooled
    for name, stride in rows:
        if stride == 1:
            continue  # padded 3x3 convolutions and pools keep the size
        conv, pool = _conv_size(size, 3, 2, 1), _pool_size(size, 3, 2, 0)
        if pool < 1:
            return (f'the max-pool of {name} gets a {size}-pixel map, too '
                    'small for it')
        if conv != pool:
            return (f'{name} gets a {size}-pixel map, on which its padded '
                    f'stride-2 convolutions give {conv} pixels and its '
                    f'unpadded max-pool {pool}: they cannot be concatenated')
        size = conv
    return None


@MODELS.register_module()
class BNInception(BaseBackbone):
    """BN-Inception (Inception v2) backbone: the BN paper's Fig. 5.

    Stem: conv1 (7x7/2) and maxpool1 (3x3/2): stride 4. Four stages
    (``out_indices``), split at each downsampling; strides 4, 8, 16, 32:

    0. conv2 (1x1) and conv3 (3x3): 192 channels, stride 4;
    1. maxpool2, inception3a-b: 320 channels, stride 8;
    2. inception3c (stride 2), 4a-d: 608 channels, stride 16;
    3. inception4e (stride 2), 5a-b: 1024 channels, stride 32 (default).

    Custom arches get one stage after each stride-2 row. The classifier
    (7x7 average pool and ``last_linear`` in Cadene's port) is a neck's and
    head's business. Cadene's weights expect BGR input in 0-255 minus
    (104, 117, 128): ``data_preprocessor=dict(mean=[104, 117, 128],
    std=[1, 1, 1], to_rgb=False)`` (docs/model_zoo/bn_inception.md).

    Other keyword arguments (frozen_stages, norm_eval, with_cp,
    in_channels, init_cfg): see :class:`~mmbackbones.models.base.BaseBackbone`.

    Args:
        arch (str | dict): ``'bn_inception'`` (Fig. 5), or a dict with
            ``stem`` (conv1 and conv3 channels) and ``inception3``,
            ``inception4``, ``inception5``: lists of rows
            (:class:`BNInceptionSpec`, its 7 or 8 fields, or a dict of them).
        norm_cfg (dict): Norm after every conv. Default BN (eps 1e-5, the
            Caffe port's).
        act_cfg (dict): Activation. Default: ReLU.
        conv_bias (bool | str): Bias in the convolutions: True (default)
            as the Caffe-trained weights have it; ``'auto'`` leaves it out
            where a norm follows (redundant with the norm's shift).

    Example:
        >>> model = BNInception(out_indices=(0, 1, 2, 3))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 192, 16, 16), (1, 320, 8, 8), (1, 608, 4, 4), (1, 1024, 2, 2)]
    """

    def __init__(self,
                 arch: Union[str, dict] = 'bn_inception',
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 conv_bias: Union[bool, str] = True,
                 out_indices: Union[int, Sequence[int]] = -1,
                 **kwargs):
        super().__init__(out_indices=out_indices, **kwargs)
        if conv_bias not in (True, False, 'auto'):
            raise ValueError("conv_bias must be True, False or 'auto', but "
                             f'got {conv_bias!r}')
        spec = as_stem_and_rows_arch(arch, BN_INCEPTION_ARCHS, _GROUPS,
                                     _as_spec)
        self.arch = spec
        kw = dict(norm_cfg=norm_cfg, act_cfg=act_cfg, bias=conv_bias)
        c1, c3 = spec['stem']

        # Stem (stride 4) and stage 0: Fig. 5's first rows.
        self.conv1 = _conv(self.in_channels, c1, 7, stride=2, **kw)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = _conv(c1, c1, 1, **kw)
        self.conv3 = _conv(c1, c3, 3, **kw)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        stages: List[List[str]] = [['conv2', 'conv3'], ['maxpool2']]
        channels, in_ch = [c3], c3
        for group in _GROUPS:
            for j, row in enumerate(spec[group]):
                block = BNInceptionBlock(in_ch, row, norm_cfg, act_cfg,
                                         conv_bias)
                self.add_module(f'{group}{chr(ord("a") + j)}', block)
                if row.stride == 2:  # a downsampling starts a stage
                    channels.append(in_ch)
                    stages.append([])
                stages[-1].append(f'{group}{chr(ord("a") + j)}')
                in_ch = row.out_channels(in_ch)
        channels.append(in_ch)
        if len(stages[1]) == 1:
            raise ValueError('arch inception3 must start with a stride-1 row '
                             '(stage 1 is maxpool2 and the blocks up to the '
                             'first stride-2 row), but got '
                             f'{spec["inception3"][0]}')
        self.declare_stages(stem=['conv1', 'maxpool1'], stages=stages,
                            channels=channels,
                            strides=[4 * 2**i for i in range(len(stages))])
        self._rows = tuple((f'{group}{chr(ord("a") + j)}', row.stride)
                           for group in _GROUPS
                           for j, row in enumerate(spec[group]))
        self.min_input_size = next(
            (s for s in range(1, 1 << 16) if self.input_size_works(s)), None)
        if self.min_input_size is None:
            raise ValueError(f'arch has {len(stages) - 2} stride-2 rows: no '
                             'input below 65536 pixels fits them')

    def input_size_works(self, size: int) -> bool:
        """Whether an input side of ``size`` pixels runs through the
        network (see the module docstring: not every size does).

        >>> model = BNInception()
        >>> [s for s in range(220, 260) if model.input_size_works(s)]
        [223, 224, 225, 226, 227, 228, 229, 230, 255, 256, 257, 258, 259]
        """
        return _side_problem(size, self._rows) is None

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        if shape_is_symbolic(x):
            return
        for side, size in zip(('height', 'width'), x.shape[2:]):
            problem = _side_problem(size, self._rows)
            if problem is None:
                continue
            # Working sizes repeat with the period of the last stride.
            window = 2 * self.stage_strides[-1]
            near = [s for s in range(max(1, size - window), size + window)
                    if self.input_size_works(s)]
            below = max((s for s in near if s < size), default=None)
            above = min((s for s in near if s > size), default=None)
            raise ValueError(
                f'BNInception cannot take an input {side} of {size} pixels: '
                f"{problem} (Caffe's rounding, kept for its weights). The "
                f'nearest sizes that work are {below} and {above} (for '
                'Fig. 5: 32k - 1 to 32k + 6, so 224 and 256 do, 299 does '
                'not)')
