"""The converter registry and the key-renaming helpers every family uses."""
import re
from collections import OrderedDict
from typing import Callable, Dict, Iterable, List, Mapping, Sequence, Tuple

import torch
import torch.nn as nn

#: Where weights can come from.
SOURCES = ('torchvision', 'timm', 'mmpretrain', 'pretrainedmodels',
           'pytorchcv', 'mmdet')

Converter = Callable[[Mapping[str, torch.Tensor], nn.Module],
                     Dict[str, torch.Tensor]]
_CONVERTERS: Dict[Tuple[str, str], Converter] = {}


def register_converter(source: str, *backbone_types: str):
    """Register ``fn(state_dict, backbone) -> state_dict`` for a source and
    one or more backbone class names."""
    if source not in SOURCES:
        raise ValueError(f'source must be one of {SOURCES}, got {source!r}')

    def decorator(fn: Converter) -> Converter:
        for name in backbone_types:
            _CONVERTERS[(name, source)] = fn
        return fn

    return decorator


def available_sources(backbone: nn.Module) -> List[str]:
    """The sources that have a converter for this backbone."""
    name = type(backbone).__name__
    return [s for s in SOURCES if (name, s) in _CONVERTERS]


def unwrap_state_dict(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """The tensors of a checkpoint: unwraps ``state_dict``/``model`` and the
    ``module.`` prefix of (D)DP-wrapped models."""
    for key in ('state_dict', 'model', 'model_state'):
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            checkpoint = checkpoint[key]
            break
    tensors = {k: v for k, v in checkpoint.items()
               if isinstance(v, torch.Tensor)}
    if tensors and all(k.startswith('module.') for k in tensors):
        tensors = {k[len('module.'):]: v for k, v in tensors.items()}
    return tensors


def rename_keys(state_dict: Mapping[str, torch.Tensor],
                rules: Sequence[Tuple[str, str]],
                drop: Iterable[str] = ()) -> Dict[str, torch.Tensor]:
    """Rename keys with regex ``(pattern, replacement)`` rules.

    Keys that ``re.match`` a ``drop`` pattern are left out (classifier
    heads). Each key gets the first rule that matches it, so put specific
    rules before general ones; a key that matches no rule keeps its name.
    """
    drop_patterns = [re.compile(p) for p in drop]
    compiled = [(re.compile(p), r) for p, r in rules]
    out: Dict[str, torch.Tensor] = OrderedDict()
    for key, value in state_dict.items():
        if any(p.match(key) for p in drop_patterns):
            continue
        for pattern, replacement in compiled:
            new_key, count = pattern.subn(replacement, key, count=1)
            if count:
                key = new_key
                break
        out[key] = value
    return out


def take_prefix(state_dict: Mapping[str, torch.Tensor],
                prefix: str) -> Dict[str, torch.Tensor]:
    """Keys under ``prefix`` (stripped) if there are any, else all keys."""
    inner = {k[len(prefix):]: v for k, v in state_dict.items()
             if k.startswith(prefix)}
    return inner or dict(state_dict)


def describe_mismatch(converted: Mapping[str, torch.Tensor],
                       expected: Mapping[str, torch.Tensor]) -> str:
    missing = [k for k in expected if k not in converted]
    unexpected = [k for k in converted if k not in expected]
    shapes = [f'{k}: {tuple(converted[k].shape)} vs '
              f'{tuple(expected[k].shape)}' for k in expected
              if k in converted and converted[k].shape != expected[k].shape]
    parts = []
    for title, items in (('missing', missing), ('unexpected', unexpected),
                         ('shape mismatch', shapes)):
        if items:
            parts.append(f'{len(items)} {title} (first: {items[:5]})')
    return '; '.join(parts)


def convert_state_dict(state_dict: Mapping, source: str,
                       backbone: nn.Module) -> Dict[str, torch.Tensor]:
    """Convert a foreign checkpoint to ``backbone``'s keys.

    Args:
        state_dict: The source model's state dict (a whole classifier is
            fine: head weights are dropped), or a checkpoint holding it
            under ``state_dict``/``model``.
        source: One of :data:`SOURCES`.
        backbone: The mmbackbones backbone the weights are for (its arch
            decides the mapping).

    Returns:
        A state dict that ``backbone.load_state_dict(sd, strict=True)``
        accepts.

    Raises:
        ValueError: unknown source, no converter for this backbone from
            that source, or weights that do not fit this architecture
            (with the first mismatched keys).
    """
    if source not in SOURCES:
        raise ValueError(f'source must be one of {SOURCES}, got {source!r}')
    name = type(backbone).__name__
    converter = _CONVERTERS.get((name, source))
    if converter is None:
        raise ValueError(
            f'no converter from {source!r} for {name}; sources available '
            f'for {name}: {available_sources(backbone)}')
    converted = converter(unwrap_state_dict(state_dict), backbone)
    expected = backbone.state_dict()
    problem = describe_mismatch(converted, expected)
    if problem:
        raise ValueError(f'the {source} weights do not fit this {name}: '
                         f'{problem}')
    return OrderedDict((k, converted[k]) for k in expected)


def mmpretrain_backbone(state_dict: Mapping[str, torch.Tensor],
                        backbone: nn.Module) -> Dict[str, torch.Tensor]:
    """For families whose module names are mmpretrain's: take the backbone
    part of a classifier checkpoint as it is."""
    return take_prefix(state_dict, 'backbone.')
