"""What a source's weights imply that is not in its checkpoint.

A checkpoint holds tensors, not the settings that make them mean
something: BatchNorm's eps, an activation's slope, TF "SAME" versus
symmetric padding, the input normalisation the weights were trained with.
Loading torchvision's EfficientNet-B0 into our default EfficientNet (TF
padding, eps 1e-3) is a strict load of every key and a model 9e-4 off; timm
Darknet-53 (LeakyReLU 0.01) into the paper's 0.1 is 0.28 off.

Each family's converter module declares, once per source, with
:func:`declare_source`:

* ``names``: the source's model names that fit one of our backbones (its
  preset), e.g. ``['efficientnet_b0', 'tf_efficientnet_b0']`` -- used to
  pick and build the reference model;
* ``implies``: :class:`Implied` rows, each a set of source model names
  (``fnmatch`` patterns) and the backbone config overrides their weights
  need, with the reason (a reference's code, a paper);
* ``features``: how to take the reference's feature map that equals our
  backbone's last output (a method such as timm's ``forward_features``, or
  a submodule whose output is hooked), and ``build``: extra arguments to
  build the reference without pretrained weights.

The input normalisation comes from the source's own metadata where it has
some (timm's ``pretrained_cfg``, Cadene's ``pretrained_settings``) and from
the declaration otherwise (torchvision's ``transform_input`` models).

:func:`resolve_settings` turns a declaration, a backbone and the source
model's name into :class:`Change` rows against a config;
:func:`verify_conversion` runs the reference and our model on one input.
"""
import copy
import fnmatch
import inspect
import os.path as osp
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple)

import torch
import torch.nn as nn

#: ImageNet mean and std in 0-255 (RGB), as mmpretrain's configs use.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
#: Inputs in [-1, 1]: Google's Inception / TF-slim preprocessing.
INCEPTION_MEAN = (127.5, 127.5, 127.5)
INCEPTION_STD = (127.5, 127.5, 127.5)


@dataclass(frozen=True)
class Implied:
    """Settings the weights of some source models imply.

    Args:
        models: ``fnmatch`` patterns of the source model names it is for
            (``'tf_efficientnet_*'``; ``'*'``: all).
        why: The reason, with its reference (shown to the user).
        backbone: Overrides of ``model.backbone`` (nested dicts merge into
            the config's: ``norm_cfg=dict(eps=1e-5)`` keeps its momentum).
        preprocess: Overrides of the data preprocessor (``mean``/``std``
            in 0-255, ``to_rgb``).
    """
    models: Tuple[str, ...]
    why: str
    backbone: Mapping[str, Any] = field(default_factory=dict)
    preprocess: Mapping[str, Any] = field(default_factory=dict)

    def applies_to(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.models)


@dataclass(frozen=True)
class SourceModels:
    """The declaration of one (backbone type, source) pair."""
    names: Callable[[nn.Module], List[str]]
    implies: Tuple[Implied, ...] = ()
    features: Optional[str] = None
    build: Mapping[str, Any] = field(default_factory=dict)
    index: int = -1  # our output (``out_indices``) that equals ``features``


#: torchvision's GoogLeNet and Inception v3 weights: the model itself maps
#: ImageNet-normalised input to [-1, 1]; ours leaves that to the data
#: preprocessor, so the matching config normalises to [-1, 1] directly.
TORCHVISION_TRANSFORM_INPUT = Implied(
    ('*', ), 'torchvision builds its ImageNet weights with '
    'transform_input=True: the model re-normalises ImageNet-normalised '
    'input to [-1, 1] (googlenet.py / inception.py _transform_input); ours '
    'leaves that to the data preprocessor',
    preprocess=dict(mean=list(INCEPTION_MEAN), std=list(INCEPTION_STD)))

_DECLARED: Dict[Tuple[str, str], SourceModels] = {}


def declare_source(source: str, *backbone_types: str,
                   names: Callable[[nn.Module], List[str]],
                   implies: Sequence[Implied] = (),
                   features: Optional[str] = None,
                   build: Optional[Mapping[str, Any]] = None,
                   index: int = -1) -> None:
    """Declare the source models of some backbone types (see the module
    docstring). ``names(backbone)`` returns the candidates for a built
    backbone, most likely first ([] when its arch has none)."""
    from .base import SOURCES
    if source not in SOURCES:
        raise ValueError(f'source must be one of {SOURCES}, got {source!r}')
    for name in backbone_types:
        _DECLARED[(name, source)] = SourceModels(
            names, tuple(implies), features, dict(build or {}), index)


def declaration(backbone: nn.Module, source: str) -> Optional[SourceModels]:
    return _DECLARED.get((type(backbone).__name__, source))


# --------------------------------------------------------------------------
# Building the reference model (only when its package is installed).

def _import(source: str):
    module = {'torchvision': 'torchvision', 'timm': 'timm',
              'pretrainedmodels': 'pretrainedmodels',
              'pytorchcv': 'pytorchcv.model_provider',
              'mmpretrain': 'mmpretrain'}.get(source)
    if module is None:
        return None
    try:
        from importlib import import_module
        return import_module(module)
    except Exception:  # not installed, or broken: cannot verify
        return None


def reference_available(source: str) -> bool:
    return _import(source) is not None


def known_model(source: str, name: str) -> bool:
    """Whether the installed source package has a model of that name."""
    package = _import(source)
    if package is None:
        return False
    if source == 'timm':
        return bool(package.list_models(name.split('.')[0]))
    if source == 'torchvision':
        return name in package.models.list_models()
    if source == 'pretrainedmodels':
        return name in package.model_names
    if source == 'pytorchcv':
        return name.lower() in package._models
    return False


def build_reference(source: str, name: str,
                    build: Mapping[str, Any] = ()) -> nn.Module:
    """The source's model ``name`` with random weights (nothing is
    downloaded)."""
    package = _import(source)
    kwargs = dict(build)
    if source == 'timm':
        return package.create_model(name, pretrained=False, **kwargs)
    if source == 'torchvision':
        return package.models.get_model(name, weights=None, **kwargs)
    if source == 'pretrainedmodels':
        return package.__dict__[name](pretrained=None, **kwargs)
    if source == 'pytorchcv':
        return package.get_model(name, pretrained=False, **kwargs)
    raise ValueError(f'cannot build {source} models')


def source_preprocess(source: str, name: str) -> Dict[str, Any]:
    """The input normalisation the source's metadata gives for its model
    (0-255 mean/std, ``to_rgb``), or {} when it has none here."""
    package = _import(source)
    if package is None:
        return {}
    if source == 'timm':
        try:
            cfg = package.models.get_pretrained_cfg(name)
        except Exception:
            return {}
        if cfg is None or cfg.mean is None:
            return {}
        return dict(mean=[round(m * 255, 4) for m in cfg.mean],
                    std=[round(s * 255, 4) for s in cfg.std])
    if source == 'pretrainedmodels':
        setting = package.pretrained_settings.get(name, {}).get('imagenet')
        if not setting:
            return {}
        scale = 255 / setting['input_range'][1]  # [0, 1] or [0, 255]
        # Cadene's BGR models take the image as OpenCV loads it.
        return dict(mean=[round(m * scale, 4) for m in setting['mean']],
                    std=[round(s * scale, 4) for s in setting['std']],
                    to_rgb=setting['input_space'] == 'RGB')
    return {}


# --------------------------------------------------------------------------
# Settings against a config.

@dataclass
class Change:
    """One config value the source's weights need."""
    key: str  # dotted, from the config's root
    value: Any  # what the weights need
    current: Any  # what the config builds (its value or the default)
    explicit: bool  # the config sets ``current`` itself (not a default)
    why: str

    def __str__(self) -> str:
        where = '' if self.explicit else ' (the default)'
        return (f'{self.key}: {self.current!r}{where} -> {self.value!r}: '
                f'{self.why}')


_MISSING = object()


def _defaults(backbone: nn.Module) -> Dict[str, Any]:
    try:
        params = inspect.signature(type(backbone).__init__).parameters
    except (TypeError, ValueError):
        return {}
    return {k: p.default for k, p in params.items()
            if p.default is not inspect.Parameter.empty}


def _diff(key: str, current: Any, wanted: Any, explicit: bool, why: str,
          out: List[Change]) -> None:
    """Leaf differences of ``wanted`` against ``current`` (nested dicts
    compared key by key: only what must change is named)."""
    if isinstance(wanted, Mapping) and isinstance(current, Mapping) and \
            not _other_type(current, wanted):
        for k, v in wanted.items():
            _diff(f'{key}.{k}', current.get(k, _MISSING), v, explicit, why,
                  out)
    elif current is _MISSING:
        out.append(Change(key, wanted, None, False, why))
    elif not _same(current, wanted):
        out.append(Change(key, wanted, _plain(current), explicit, why))


def _plain(value: Any) -> Any:
    if hasattr(value, 'to_dict'):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


def _same(a: Any, b: Any) -> bool:
    a, b = _plain(a), _plain(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not (
            isinstance(a, bool) or isinstance(b, bool)):
        return abs(a - b) <= 1e-6 * max(1., abs(a), abs(b))
    return a == b


def _other_type(base: Mapping, override: Mapping) -> bool:
    """A layer dict of another ``type`` takes other arguments: it replaces
    the config's (``act_cfg`` LeakyReLU -> ReLU drops ``negative_slope``)
    instead of merging into it (``norm_cfg`` BN keeps its momentum)."""
    return 'type' in override and override['type'] != base.get('type')


def _merge(base: Any, override: Any) -> Any:
    if isinstance(override, Mapping) and isinstance(base, Mapping) and \
            not _other_type(base, override):
        merged = {k: copy.deepcopy(_plain(v)) for k, v in base.items()}
        for k, v in override.items():
            merged[k] = _merge(merged.get(k), v)
        return merged
    return copy.deepcopy(override)


def backbone_key(cfg) -> str:
    """Where the config keeps the backbone: ``model.backbone``, or
    ``model`` for a config whose model is a backbone."""
    return 'model.backbone' if 'backbone' in cfg.model else 'model'


def preprocessor_key(cfg) -> Optional[str]:
    """Where the config keeps its data preprocessor (None: a config whose
    model is a bare backbone has none; the normalisation is then the
    user's, recorded in the checkpoint's meta only)."""
    if 'data_preprocessor' in cfg:
        return 'data_preprocessor'
    return 'model.data_preprocessor' if 'backbone' in cfg.model else None


@dataclass
class Settings:
    """The settings a conversion needs and the changes to a config."""
    source_model: Optional[str]
    backbone: Dict[str, Any]
    preprocess: Dict[str, Any]
    reasons: Dict[str, str]  # override key -> why
    changes: List[Change]


def resolve_settings(cfg, backbone: nn.Module, source: str,
                     source_model: Optional[str]) -> Settings:
    """The overrides the weights of ``source_model`` need, and how they
    differ from what ``cfg`` (whose ``model.backbone`` built ``backbone``)
    builds. ``source_model`` None: only rows for every model (``'*'``).

    Example:
        >>> from mmengine.config import Config
        >>> from mmbackbones.models import MobileNetV3
        >>> cfg = Config(dict(model=dict(backbone=dict(
        ...     type='MobileNetV3', arch='small_050'))))
        >>> s = resolve_settings(cfg, MobileNetV3('small_050'), 'timm',
        ...                      'mobilenetv3_small_050')
        >>> s.backbone['norm_cfg'], [c.key for c in s.changes][0]
        ({'type': 'BN', 'eps': 1e-05}, 'model.backbone.norm_cfg.eps')
    """
    declared = declaration(backbone, source)
    rows = [r for r in (declared.implies if declared else ())
            if (source_model and r.applies_to(source_model))
            or r.models == ('*', )]
    bb_over: Dict[str, Any] = {}
    pp_over: Dict[str, Any] = {}
    reasons: Dict[str, str] = {}
    for row in rows:
        for k, v in row.backbone.items():
            bb_over[k] = _merge(bb_over.get(k), v)
            reasons[f'model.backbone.{k}'] = row.why
        for k, v in row.preprocess.items():
            pp_over[k] = v
            reasons[f'preprocess.{k}'] = row.why
    if source_model:
        meta = source_preprocess(source, source_model)
        for k, v in meta.items():
            if k not in pp_over:
                pp_over[k] = v
                reasons[f'preprocess.{k}'] = (
                    f"{source}'s metadata for {source_model}")

    changes: List[Change] = []
    bb_key = backbone_key(cfg)
    user_bb = _get(cfg, bb_key)
    defaults = _defaults(backbone)
    for k, v in bb_over.items():
        explicit = k in user_bb
        current = user_bb[k] if explicit else defaults.get(k, _MISSING)
        _diff(f'{bb_key}.{k}', current, v, explicit,
              reasons[f'model.backbone.{k}'], changes)
    pp_key = preprocessor_key(cfg)
    user_pp = (_get(cfg, pp_key) or {}) if pp_key else {}
    for k, v in (pp_over if pp_key else {}).items():
        # mmpretrain's ClsDataPreprocessor: no mean/std normalises nothing,
        # to_rgb defaults to False.
        current = user_pp.get(k, False if k == 'to_rgb' else None)
        _diff(f'{pp_key}.{k}', current, v, k in user_pp,
              reasons[f'preprocess.{k}'], changes)
    return Settings(source_model, bb_over, pp_over, reasons, changes)


def _get(cfg, dotted: str) -> Any:
    node = cfg
    for part in dotted.split('.'):
        if not hasattr(node, 'get'):
            return None
        node = node.get(part)
    return node


def apply_settings(cfg, settings: Settings):
    """A copy of ``cfg`` with the settings applied."""
    out = copy.deepcopy(cfg)
    merged = _merge(_plain(_get(out, backbone_key(out))), settings.backbone)
    if backbone_key(out) == 'model':
        out.model = merged
    else:
        out.model.backbone = merged
    key = preprocessor_key(out)
    if settings.preprocess and key:
        merged = _merge(_plain(_get(out, key) or {}), settings.preprocess)
        if key == 'data_preprocessor':
            out.data_preprocessor = merged
        else:
            out.model.data_preprocessor = merged
    return out


# --------------------------------------------------------------------------
# Which source model a checkpoint is.

def _fits(reference: nn.Module, state: Mapping[str, torch.Tensor]) -> bool:
    expected = reference.state_dict()
    for key, value in expected.items():
        if key.endswith('num_batches_tracked') and key not in state:
            continue
        if key not in state or state[key].shape != value.shape:
            return False
    return all(k in expected for k in state)


def infer_source_model(backbone: nn.Module, source: str,
                       state: Mapping[str, torch.Tensor],
                       filename: str = '') -> Tuple[Optional[str], str]:
    """``(name, how)``: the source model the checkpoint is, or None and why
    not. Among the declared candidates whose state dict the checkpoint
    fills exactly (built on the meta device), those that imply the same
    settings are one answer; otherwise a candidate that starts the file's
    name (``tf_efficientnet_b0_aa-827b6e33.pth``) decides."""
    declared = declaration(backbone, source)
    if declared is None:
        return None, f'no {source} models are declared for ' \
            f'{type(backbone).__name__}'
    if not reference_available(source):  # the arch alone may tell
        names = declared.names(backbone)
        if len(names) == 1:
            return names[0], f'the only {source} model of this arch'
        return None, f'{source} is not installed to tell {names} apart'
    names = [n for n in declared.names(backbone) if known_model(source, n)]
    if not names:
        return None, (f'{type(backbone).__name__} of this arch has no known '
                      f'{source} model here')
    fitting = []
    for name in names:
        try:
            with torch.device('meta'):
                reference = build_reference(source, name, declared.build)
        except Exception:
            continue
        if _fits(reference, state):
            fitting.append(name)
    if not fitting:
        if len(names) == 1:  # e.g. a fine-tuned head: verification decides
            return names[0], 'the only candidate (the checkpoint does not ' \
                'fill it exactly)'
        return None, f'the checkpoint fills none of {names} exactly'

    def rows(name):
        return [r for r in declared.implies if r.applies_to(name)]
    if all(rows(n) == rows(fitting[0]) for n in fitting):
        return fitting[0], 'from the checkpoint'
    base = osp.basename(filename)
    named = sorted((n for n in fitting if base.startswith(n)), key=len)
    if named:
        return named[-1], 'from the file name'
    return None, (f'the checkpoint fits {fitting} alike, whose weights need '
                  'other settings')


# --------------------------------------------------------------------------
# Verification.

def reference_features(reference: nn.Module, how: str,
                       inputs: torch.Tensor) -> torch.Tensor:
    """The reference's feature map: ``how`` names a method
    (``forward_features``) or a submodule whose output is taken while the
    whole model runs (``layer4``)."""
    target = reference
    for part in how.split('.'):
        target = getattr(target, part)
    if not isinstance(target, nn.Module):
        return target(inputs)
    captured = []
    handle = target.register_forward_hook(
        lambda module, args, output: captured.append(output))
    try:
        reference(inputs)
    finally:
        handle.remove()
    return captured[-1]


def verify_conversion(ours: nn.Module, reference: nn.Module, how: str,
                      size: int, seed: int = 0) -> float:
    """Max relative error of our backbone's last output against the
    reference's feature map on one random batch, both in eval mode."""
    from mmbackbones.deploy.utils import relative_error
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.rand(2, 3, size, size, generator=generator)
    ours.eval()
    reference.eval()
    with torch.no_grad():
        expected = reference_features(reference, how, inputs)
        outputs = ours(inputs)
    if isinstance(outputs, (tuple, list)):
        outputs = outputs[-1]
    if not torch.isfinite(outputs).all():
        return float('inf')
    return float(relative_error(outputs, expected))


def load_into_reference(reference: nn.Module,
                        state: Mapping[str, torch.Tensor]) -> List[str]:
    """Load the checkpoint's tensors that fit; the reference's keys left
    as initialised (a fine-tuned head: harmless; a backbone key: the
    verification will show it)."""
    expected = reference.state_dict()
    fitting = {k: v for k, v in state.items()
               if k in expected and v.shape == expected[k].shape}
    reference.load_state_dict(fitting, strict=False)
    return [k for k in expected if k not in fitting
            and not k.endswith('num_batches_tracked')]
