"""The one base class every mmbackbones backbone derives from.

A family builds its modules in ``__init__`` and ends it with one explicit
call, :meth:`BaseBackbone.declare_stages`, naming (by attribute path, so
checkpoint keys stay the family's own) the modules of its *stem* and of
each *stage*, with each output's channels and stride. Everything that is
the same for all families reads that one declaration:

* ``out_indices`` (negative indices allowed) count the outputs: the stages,
  preceded by the stem where the family declares ``stem_is_output`` (as
  mmpretrain's MobileNetV3 / EfficientNet count ``layer0``);
* ``frozen_stages=k`` freezes *freeze units* ``0..k`` (``-1``: nothing):
  by default unit 0 is the stem and unit ``i`` stage ``i`` ("the stem and
  the first k stages"); a family whose mmpretrain counterpart counts
  otherwise declares its ``freeze_units`` (EfficientNet, DenseNet), so a
  config ported from mmpretrain freezes the same parameters. Frozen units
  get ``requires_grad=False`` and eval mode, re-applied on every
  ``train()``;
* the range checks of both, with errors naming the valid values;
* ``feature_info``: channels and stride of every output, for necks;
* the forward pass: stem, then each stage's modules in order, ``with_cp``
  gradient checkpointing module by module (declare a stage as
  ``self.blocks('layer1')`` to run it block by block) with BatchNorm
  statistics updated once.

Forgetting ``declare_stages`` is loud: forward, ``train()``,
``stage_modules()`` and ``feature_info`` raise a RuntimeError naming the
class. There is no metaclass and no private hook to override.

The base arguments are keyword-only and documented here once. A family's
``__init__`` lists only its own arguments (and ``out_indices``, with its
default), then ``**kwargs``, and calls ``super().__init__(out_indices=
out_indices, **kwargs)``, so ``inspect.signature`` shows what is the
family's and a misspelt argument is a TypeError naming it; a family whose
reference initialises otherwise sets ``default_init_cfg``. They are:

* ``out_indices`` (int | Sequence[int]): outputs to return, counted from
  0; negative values count from the last.
* ``frozen_stages`` (int): freeze units ``0..frozen_stages``; -1 none.
* ``norm_eval`` (bool): BatchNorm layers stay in eval mode while training
  (frozen running statistics, as for detection fine-tuning).
* ``with_cp`` (bool): gradient checkpointing of every block: saves memory,
  costs one more forward pass per block in backward.
* ``in_channels`` (int): channels of the input image.
* ``init_cfg`` (dict | list[dict], optional): mmengine initialisation;
  ``None`` means the class's ``default_init_cfg`` (:data:`DEFAULT_INIT_CFG`
  unless the family's reference initialises otherwise); a ``Pretrained``
  entry loads strictly, in any layout we can convert.

Input checks at forward: a wrong channel count or an input smaller than
``min_input_size`` is a ``ValueError``, not a shape error inside a conv.

Example:
    >>> class Tiny(BaseBackbone):
    ...     def __init__(self, **base_args):
    ...         super().__init__(**base_args)
    ...         self.conv = nn.Conv2d(3, 8, 3, 2, 1)
    ...         self.layer1 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1))
    ...         self.declare_stages(stem=['conv'],
    ...                             stages=[self.blocks('layer1')],
    ...                             channels=[16], strides=[4])
    >>> [tuple(o.shape) for o in Tiny(frozen_stages=0)(torch.rand(1, 3, 32,
    ...                                                            32))]
    [(1, 16, 8, 8)]
"""
import copy
import logging
from contextlib import contextmanager
from numbers import Real
from typing import (Callable, Iterator, List, NamedTuple, Optional,
                    Sequence, Tuple, Union)

import torch
import torch.nn as nn
from mmengine.logging import MMLogger, print_log
from mmpretrain.models.backbones.base_backbone import \
    BaseBackbone as MMPretrainBaseBackbone
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint


@contextmanager
def _bn_stats_frozen(module: nn.Module) -> Iterator[None]:
    """Let BatchNorm layers normalise with batch statistics without updating
    their running statistics (used for the re-computation pass of
    gradient checkpointing, which would otherwise count the batch twice)."""
    saved = []
    for m in module.modules():
        if isinstance(m, _BatchNorm) and m.track_running_stats:
            saved.append((m, m.momentum, m.num_batches_tracked.clone()))
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, tracked in saved:
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)


def checkpointed(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``block(x)`` with gradient checkpointing, updating BN once."""
    calls = 0

    def run(inp: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls == 1:
            return block(inp)
        with _bn_stats_frozen(block):
            return block(inp)

    return checkpoint(run, x, use_reentrant=False)


def shape_is_symbolic(x) -> bool:
    """True where ``x``'s shape cannot steer Python control flow: while
    exporting with TorchScript (``jit.trace`` / ``jit.script``) and under
    ``torch.fx`` symbolic tracing, which hands a ``Proxy`` whose
    ``shape[1]`` is a Proxy too (an ``if`` on it raises a TraceError).

    Input checks are skipped there; torch.export and torch.compile see real
    (fake) tensors and still run them.

    >>> shape_is_symbolic(torch.zeros(1)), shape_is_symbolic(
    ...     torch.fx.Proxy(torch.fx.Graph().placeholder('x')))
    (False, True)
    """
    return (isinstance(x, torch.fx.Proxy) or torch.jit.is_tracing()
            or torch.jit.is_scripting())


#: Kaiming-initialised convolutions, unit-scale norms: every family's
#: default ``init_cfg``.
DEFAULT_INIT_CFG = [
    dict(type='Kaiming', layer='Conv2d'),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
]


Names = Sequence[str]


class StageLayout(NamedTuple):
    """What :meth:`BaseBackbone.declare_stages` recorded: module paths
    (``'layer1'``, ``'features.3'``), resolved whenever they are used, so a
    module replaced in place (conv-BN fusion swaps a BN for an Identity)
    is the one that runs."""
    stem: Tuple[str, ...]
    stages: Tuple[Tuple[str, ...], ...]
    stem_is_output: bool
    freeze_units: Tuple[Tuple[str, ...], ...]


class BaseBackbone(MMPretrainBaseBackbone):
    """Base class of every mmbackbones backbone.

    The keyword-only arguments are described once, in this module's
    docstring. A subclass ends its ``__init__`` with
    :meth:`declare_stages`, and may set ``min_input_size`` (the smallest
    height/width that works).
    """

    #: Smallest input height/width the network accepts (families with
    #: unpadded convolutions or fixed pooling raise this).
    min_input_size: int = 1

    #: What ``init_cfg=None`` means (a deep copy is taken per model). A
    #: family whose reference initialises otherwise (MobileNetV3, VGG's
    #: classifier, Inception v3) sets this instead of listing ``init_cfg``.
    default_init_cfg: List[dict] = DEFAULT_INIT_CFG

    def __init__(self,
                 *,
                 out_indices: Union[int, Sequence[int]] = -1,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 in_channels: int = 3,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(
            copy.deepcopy(self.default_init_cfg)
            if init_cfg is None else init_cfg)
        if isinstance(out_indices, bool) or not isinstance(
                out_indices, (int, Sequence)):
            raise TypeError('out_indices must be an int or a sequence of '
                            f'ints, but got {type(out_indices).__name__}')
        if isinstance(frozen_stages, bool) or not isinstance(
                frozen_stages, int):
            raise TypeError('frozen_stages must be an int, but got '
                            f'{type(frozen_stages).__name__}')
        check_positive_int('in_channels', in_channels)
        self._requested_out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.in_channels = in_channels
        self.stage_channels: Tuple[int, ...] = ()
        self.stage_strides: Tuple[int, ...] = ()
        self._layout: Optional[StageLayout] = None

    # ----------------------------------------------------------------- #
    # The declaration
    # ----------------------------------------------------------------- #
    def declare_stages(self,
                       stem: Names,
                       stages: Sequence[Names],
                       channels: Sequence[int],
                       strides: Sequence[int],
                       *,
                       stem_is_output: bool = False,
                       freeze_units: Optional[Sequence[Names]] = None
                       ) -> None:
        """The last step of a family's ``__init__``: name the stem's and
        each stage's modules, in forward order.

        Args:
            stem: Paths of the modules run before the first stage.
            stages: One list of module paths per stage.
            channels: Channels of each output (the stem's first when
                ``stem_is_output``, then one per stage).
            strides: Stride (input size / feature size) of each output.
            stem_is_output: The stem's output is output 0 (mmpretrain's
                MobileNetV3 and EfficientNet count their ``layer0``).
            freeze_units: What ``frozen_stages=k`` freezes: units ``0..k``.
                Default ``[stem, *stages]``; an empty unit freezes nothing
                (EfficientNet's ``frozen_stages=0``, as in mmpretrain).

        It checks the declaration against the built modules, resolves
        ``out_indices``, checks ``frozen_stages`` and applies it. A subclass
        of a family may call it again to declare a changed network.
        """
        stem = tuple(stem)
        stages = tuple(tuple(stage) for stage in stages)
        units = ((stem, *stages) if freeze_units is None else tuple(
            tuple(unit) for unit in freeze_units))
        name = type(self).__name__
        for path in (*stem, *(p for s in stages for p in s),
                     *(p for u in units for p in u)):
            try:
                self.get_submodule(path)
            except AttributeError:
                raise RuntimeError(f'{name}.declare_stages names {path!r}, '
                                   'which is not a module of it') from None
        num_outputs = len(stages) + bool(stem_is_output)
        if not stages or not len(channels) == len(strides) == num_outputs:
            raise RuntimeError(
                f'{name} declares {len(stages)} stages (outputs: '
                f'{num_outputs}) but {len(channels)} channels and '
                f'{len(strides)} strides')
        self.stage_channels = tuple(channels)
        self.stage_strides = tuple(strides)
        self.out_indices = self.resolve_out_indices(
            self._requested_out_indices, num_outputs)
        if not -1 <= self.frozen_stages < len(units):
            raise ValueError(
                f'frozen_stages must be in -1..{len(units) - 1} for {name} '
                f'(-1: none, k: {self._freeze_rule(stem, stages, units)})'
                f', but got {self.frozen_stages}')
        self._layout = StageLayout(stem, stages, bool(stem_is_output), units)
        self._freeze_stages()

    @staticmethod
    def _freeze_rule(stem, stages, units) -> str:
        if units == (stem, *stages):
            return ('the stem and the first k stages' if stem else
                    'the first k stages')
        shown = ', '.join('+'.join(u) or 'nothing' for u in units[:2])
        return f'freeze units 0..k, which are {shown}, ...'

    def _declared(self) -> StageLayout:
        if self._layout is None:
            raise RuntimeError(
                f'{type(self).__name__}.__init__ must end with '
                'self.declare_stages(stem=..., stages=..., channels=..., '
                'strides=...): without it the base class does not know the '
                'stages (see mmbackbones.models.base)')
        return self._layout

    def blocks(self, path: str) -> List[str]:
        """The paths of the children of the module at ``path``: a stage
        declared as ``self.blocks('layer1')`` runs (and, under ``with_cp``,
        is checkpointed) block by block.

        >>> from mmbackbones.models import ResNet
        >>> ResNet(depth=18).blocks('layer1')
        ['layer1.0', 'layer1.1']
        """
        return [f'{path}.{name}'
                for name, _ in self.get_submodule(path).named_children()]

    def _modules_at(self, paths: Names) -> List[nn.Module]:
        return [self.get_submodule(path) for path in paths]

    def stem_modules(self) -> List[nn.Module]:
        """Modules run before the first stage, in order."""
        return self._modules_at(self._declared().stem)

    def stage_modules(self) -> List[List[nn.Module]]:
        """One plain list of modules per stage, in order."""
        return [self._modules_at(s) for s in self._declared().stages]

    def freeze_unit_modules(self) -> List[List[nn.Module]]:
        """``frozen_stages=k`` freezes the modules of units ``0..k`` (the
        declared modules themselves, containers included, as mmpretrain's
        ``m.eval()`` does)."""
        return [[self.get_submodule(path) for path in unit]
                for unit in self._declared().freeze_units]

    @property
    def stem_is_output(self) -> bool:
        return self._declared().stem_is_output

    @property
    def num_stages(self) -> int:
        """The number of outputs ``out_indices`` can name."""
        return len(self.stage_channels)

    # ----------------------------------------------------------------- #
    # Validation and feature info
    # ----------------------------------------------------------------- #
    def resolve_out_indices(self, out_indices: Union[int, Sequence[int]],
                            num_stages: int) -> Tuple[int, ...]:
        """Normalise ``out_indices`` to sorted non-negative stage indices.

        Families that need the indices while building (extra norm layers on
        the outputs, say) may call this from their ``__init__``.
        """
        indices = [out_indices] if isinstance(out_indices, int) else list(
            out_indices)
        if not indices:
            raise ValueError('out_indices must name at least one stage')
        resolved = []
        for index in indices:
            if isinstance(index, bool) or not isinstance(index, int):
                raise TypeError('out_indices must contain ints, but got '
                                f'{index!r}')
            if not -num_stages <= index < num_stages:
                raise ValueError(
                    f'out_indices {index} is out of range: '
                    f'{type(self).__name__} has {num_stages} stages, so valid '
                    f'indices are {-num_stages}..{num_stages - 1}')
            resolved.append(index % num_stages)
        if len(set(resolved)) != len(resolved):
            raise ValueError(f'out_indices {tuple(indices)} names a stage '
                             'twice')
        return tuple(sorted(resolved))

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each returned feature map, in output order."""
        return tuple(self.stage_channels[i] for i in self.out_indices)

    @property
    def out_strides(self) -> Tuple[int, ...]:
        """Stride (input size / feature size) of each returned map."""
        return tuple(self.stage_strides[i] for i in self.out_indices)

    @property
    def feature_info(self) -> List[dict]:
        """One dict per output: ``index``, ``channels`` and ``stride``."""
        self._declared()
        return [
            dict(index=i, channels=self.stage_channels[i],
                 stride=self.stage_strides[i]) for i in self.out_indices
        ]

    # ----------------------------------------------------------------- #
    # Freezing and train mode
    # ----------------------------------------------------------------- #
    def _freeze_stages(self) -> None:
        for unit in self.freeze_unit_modules()[:self.frozen_stages + 1]:
            for module in unit:
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'BaseBackbone':
        """Set train/eval mode, keeping frozen stages and (with
        ``norm_eval``) BatchNorm layers in eval mode. Returns ``self``."""
        nn.Module.train(self, mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    # ----------------------------------------------------------------- #
    # Forward
    # ----------------------------------------------------------------- #
    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError for inputs the network cannot process."""
        if shape_is_symbolic(x):
            return
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x)
            raise ValueError(
                f'{type(self).__name__} expects x of shape (N, '
                f'{self.in_channels}, H, W), but got {shape}')
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} was built with in_channels='
                f'{self.in_channels}, but x has {x.shape[1]} channels '
                f'(shape {tuple(x.shape)})')
        if min(x.shape[2:]) < self.min_input_size:
            raise ValueError(
                f'{type(self).__name__} needs inputs of at least '
                f'{self.min_input_size}x{self.min_input_size} pixels, but x '
                f'is {x.shape[2]}x{x.shape[3]}')

    def run_stage(self, stage: Union[nn.Module, Sequence[nn.Module]],
                  x: torch.Tensor) -> torch.Tensor:
        """Run one stage's modules in order (a single module: as one
        block), each checkpointed under ``with_cp`` wherever backward will
        reach it: behind frozen stages the input needs no gradient but the
        stage's parameters do."""
        blocks = [stage] if isinstance(stage, nn.Module) else stage
        if (self.with_cp and self.training and torch.is_grad_enabled()
                and (x.requires_grad or any(
                    p.requires_grad for b in blocks for p in b.parameters()))):
            for block in blocks:
                x = checkpointed(block, x)
            return x
        for block in blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        self.check_input(x)
        first = int(self._declared().stem_is_output)
        for module in self.stem_modules():
            x = module(x)
        outs = [x] if first and 0 in self.out_indices else []
        for i, stage in enumerate(self.stage_modules(), start=first):
            x = self.run_stage(stage, x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    # ----------------------------------------------------------------- #
    # Initialisation and pretrained weights
    # ----------------------------------------------------------------- #
    def _init_cfgs(self) -> List[dict]:
        cfg = self.init_cfg
        return [] if cfg is None else [cfg] if isinstance(cfg, dict) else list(
            cfg)

    @property
    def pretrained_cfg(self) -> Optional[dict]:
        """The ``Pretrained`` entry of ``init_cfg`` (a dict or a list
        holding one), or None."""
        found = [c for c in self._init_cfgs() if c.get('type') == 'Pretrained']
        return found[-1] if found else None

    def init_weights(self) -> None:
        """Initialise as ``init_cfg`` says; a ``Pretrained`` entry (alone or
        in a list) is loaded strictly, in any layout we can convert.

        mmengine's own ``Pretrained`` loads non-strictly: weights of another
        layout (mmdet's ``open-mmlab://resnet50_v1c`` names the deep stem
        ``stem.0.weight``, ours ``stem.0.conv.weight``) left parameters at
        their random values with only a warning. Here the file is read with
        mmengine's ``CheckpointLoader`` (any scheme: path, URL,
        ``open-mmlab://``, ``torchvision://``), the part under ``prefix``
        (default: the whole file, or its ``backbone.`` part) is fitted by
        :func:`mmbackbones.converters.autodetect.fit_state_dict`, and a
        file that would leave any parameter or buffer uninitialised is a
        ValueError listing them. Keys that are not the backbone's (a
        classifier head, a detector's neck) are ignored.

        Subclasses with initialisation of their own (``zero_init_residual``)
        skip it when :attr:`pretrained_cfg` is set.
        """
        pretrained = self.pretrained_cfg
        if pretrained is None:
            super().init_weights()
        else:
            # Everything else in init_cfg first (mmengine's order too),
            # then the weights, which must cover every parameter.
            saved = self.init_cfg
            self.init_cfg = [
                c for c in self._init_cfgs() if c.get('type') != 'Pretrained'
            ] or None
            # Alone (not inside a detector) mmengine would list every
            # parameter as "the same before and after" before we load.
            quiet = _quiet_logger(not hasattr(self, '_params_init_info'))
            try:
                with quiet:
                    super().init_weights()
            finally:
                self.init_cfg = saved
            self.load_pretrained(**{
                k: v for k, v in pretrained.items() if k != 'type'})
        # Re-apply freezing in case loading replaced parameters.
        self._freeze_stages()

    def load_pretrained(self, checkpoint: str, prefix: Optional[str] = None,
                        map_location: Union[str, torch.device] = 'cpu',
                        **unused) -> str:
        """Load ``checkpoint`` (its ``prefix`` part) strictly; returns the
        layout it was in (``'as saved'``, ``'mmdet'``, ``'timm'``...)."""
        from mmengine.runner.checkpoint import CheckpointLoader

        from mmbackbones.converters.autodetect import fit_state_dict
        from mmbackbones.converters.base import unwrap_state_dict
        if unused:
            raise TypeError(f"init_cfg=dict(type='Pretrained') got unknown "
                            f'keys {sorted(unused)} (valid: checkpoint, '
                            'prefix, map_location)')
        state = unwrap_state_dict(CheckpointLoader.load_checkpoint(
            checkpoint, map_location=map_location))
        if prefix:
            prefix = prefix if prefix.endswith('.') else prefix + '.'
            state = {k[len(prefix):]: v for k, v in state.items()
                     if k.startswith(prefix)}
            if not state:
                raise ValueError(f'no key of {checkpoint} starts with '
                                 f'prefix {prefix!r}')
        fitted, layout = fit_state_dict(state, self, name=str(checkpoint))
        self.load_state_dict(fitted, strict=False)
        print_log(f'{type(self).__name__}: loaded all {len(fitted)} '
                  f'parameters and buffers from {checkpoint} ({layout} '
                  'layout)', logger='current', level=logging.INFO)
        return layout


@contextmanager
def _quiet_logger(enabled: bool = True) -> Iterator[None]:
    """mmengine's current logger at WARNING for the duration (if
    ``enabled``)."""
    if not enabled:
        yield
        return
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def make_stage_strides(first_stride: int,
                       stage_stride_factors: Sequence[int]) -> Tuple[int, ...]:
    """Cumulative strides: the stem's stride, then each stage's factor.

    >>> make_stage_strides(4, [1, 2, 2, 2])
    (4, 8, 16, 32)
    """
    strides, current = [], first_stride
    for factor in stage_stride_factors:
        current *= factor
        strides.append(current)
    return tuple(strides)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """``value``, or a ValueError naming ``name`` unless it is an int (not
    a bool) of at least ``minimum``."""
    if (isinstance(value, bool) or not isinstance(value, int)
            or value < minimum):
        what = 'a positive int' if minimum == 1 else f'an int >= {minimum}'
        raise ValueError(f'{name} must be {what}, but got {value!r}')
    return value


def check_positive_number(name: str, value, valid: str = '') -> float:
    """``value``, or a ValueError naming ``name`` (and ``valid``, a hint
    at the usual values) unless it is a real number > 0, not a bool.

    >>> check_positive_number('width', 0, ' (e.g. 1.0)')
    Traceback (most recent call last):
    ...
    ValueError: width must be a positive number (e.g. 1.0), but got 0
    """
    if (isinstance(value, bool) or not isinstance(value, Real)
            or not value > 0):
        raise ValueError(f'{name} must be a positive number{valid}, but got '
                         f'{value!r}')
    return value


def check_rate(name: str, value) -> float:
    """``value``, or a ValueError naming ``name`` unless it is a real
    number in [0, 1) (not a bool): a dropout or stochastic-depth rate.

    >>> check_rate('drop_path_rate', 1.0)
    Traceback (most recent call last):
    ...
    ValueError: drop_path_rate must be in [0, 1), but got 1.0
    """
    if (isinstance(value, bool) or not isinstance(value, Real)
            or not 0 <= value < 1):
        raise ValueError(f'{name} must be in [0, 1), but got {value!r}')
    return value


def check_positive_ints(name: str, values, length: Optional[int] = None,
                        minimum_length: int = 1) -> Tuple[int, ...]:
    """``values`` as a tuple, or a ValueError naming ``name`` unless it is
    a sequence of positive ints: exactly ``length`` of them if given, else
    at least ``minimum_length``."""
    if (isinstance(values, (str, bytes)) or not isinstance(values, Sequence)
            or (len(values) != length if length is not None else
                len(values) < minimum_length)
            or not all(isinstance(v, int) and not isinstance(v, bool)
                       and v > 0 for v in values)):
        count = length if length is not None else f'at least {minimum_length}'
        raise ValueError(f'{name} must be {count} positive ints, but got '
                         f'{values!r}')
    return tuple(values)


def as_named_arch(arch, presets: dict, arch_name: str = 'arch',
                  required_keys: Optional[Sequence[str]] = None,
                  optional_keys: Optional[Sequence[str]] = None):
    """Look up a preset by name, or validate a custom arch dict.

    Raises a ValueError naming the presets for an unknown name, the missing
    keys for an incomplete custom dict and, when ``optional_keys`` is given
    (the keys a custom dict may have besides the required ones), the keys
    it does not know.

    >>> as_named_arch(dict(a=1, c=2), {}, required_keys=['a'],
    ...               optional_keys=['b'])
    Traceback (most recent call last):
    ...
    ValueError: custom arch has unknown keys ['c'] (valid: ['a', 'b'])
    """
    if isinstance(arch, dict):
        required = list(required_keys or [])
        missing = [k for k in required if k not in arch]
        if missing:
            raise ValueError(f'custom {arch_name} is missing the keys '
                             f'{missing} (required: {required})')
        if optional_keys is not None:
            valid = required + list(optional_keys)
            unknown = sorted(set(arch) - set(valid))
            if unknown:
                raise ValueError(f'custom {arch_name} has unknown keys '
                                 f'{unknown} (valid: {valid})')
        return arch
    if arch not in presets:
        raise ValueError(f'{arch_name} must be one of {list(presets)} or a '
                         f'custom dict, but got {arch!r}')
    return presets[arch]


def as_stem_and_rows_arch(arch, presets: dict, groups: Sequence[str],
                          parse_row: Callable[[object, str], object],
                          stem_help: str = 'conv1, conv3 channels',
                          stem_length: int = 2,
                          max_rows: int = 26) -> dict:
    """An Inception-style arch (GoogLeNet's, BN-Inception's table): a
    preset name, or a dict with ``stem`` (``stem_length`` positive ints) and
    one list of rows per name in ``groups`` -- 1 to ``max_rows`` rows, one
    module each, named by letter -- each row read by ``parse_row(row,
    name)`` (which raises the ValueError for a bad row). Returns a new dict:
    ``stem`` a tuple, each group a list of parsed rows.

    >>> as_stem_and_rows_arch(dict(stem=(8, 16), g=[]), {}, ['g'], tuple)
    Traceback (most recent call last):
    ...
    ValueError: arch g must be a non-empty list of at most 26 rows, but got []
    """
    if not isinstance(arch, (str, dict)):
        raise TypeError(f'arch must be one of {list(presets)} or a dict, '
                        f'but got {type(arch).__name__}')
    arch = as_named_arch(arch, presets, required_keys=('stem', *groups),
                         optional_keys=())
    stem = arch['stem']
    if (isinstance(stem, (str, bytes)) or not isinstance(stem, Sequence)
            or len(stem) != stem_length):
        raise ValueError(f'arch stem must be {stem_length} positive ints '
                         f'({stem_help}), but got {stem!r}')
    resolved = dict(
        stem=tuple(check_positive_int('arch stem', c) for c in stem))
    for group in groups:
        rows = arch[group]
        if (isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence)
                or not 1 <= len(rows) <= max_rows):
            raise ValueError(f'arch {group} must be a non-empty list of at '
                             f'most {max_rows} rows, but got {rows!r}')
        resolved[group] = [
            parse_row(row, f'arch {group}[{i}]') for i, row in enumerate(rows)
        ]
    return resolved
