"""Checks that a loaded checkpoint fits the run that loads it.

mmengine 0.10.7 loads ``load_from`` non-strictly: a checkpoint of another
architecture loads the few tensors whose names and shapes happen to match,
logs the rest and trains on (266 size-mismatched tensors skipped, exit 0),
and ``resume`` indexes ``checkpoint['meta']['epoch']`` etc. without looking,
so a weights-only file gives a KeyError. ``SafeRunner.load_checkpoint``
calls these checks first; each failure is one :class:`CheckpointError`.

What may differ on ``load_from`` is the config key ``load_from_partial``:

- unset / ``False`` (default): only keys under ``head.`` — the classifier,
  which fine-tuning to another class count replaces — may be missing,
  unexpected or of another shape; anything else is an error;
- a list of key prefixes, e.g. ``['head.', 'neck.']`` (``[]``: strict);
- ``True``: load whatever fits, as mmengine does (it logs the rest).

Resuming always needs an exact fit.
"""
import re
from typing import Any, Mapping, Optional, Sequence, Tuple

import torch

from .checkpoint import CheckpointError

#: Keys that may differ on ``load_from`` by default (fine-tuning replaces
#: the classification head).
DEFAULT_PARTIAL_PREFIXES: Tuple[str, ...] = ('head.', )


def partial_prefixes(value: Any) -> Optional[Tuple[str, ...]]:
    """The key prefixes ``load_from_partial=value`` lets differ; ``None``
    means anything may (``True``).

    Example:
        >>> partial_prefixes(None), partial_prefixes(['neck.'])
        (('head.',), ('neck.',))
    """
    if value is None or value is False:
        return DEFAULT_PARTIAL_PREFIXES
    if value is True:
        return None
    if isinstance(value, (list, tuple)) and all(
            isinstance(p, str) for p in value):
        return tuple(value)
    raise CheckpointError(
        'load_from_partial must be True, False or a list of state-dict key '
        f"prefixes (e.g. ['head.']), got {value!r}")


def _state_dict(checkpoint: Mapping, revise_keys: Sequence) -> dict:
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointError(f"its 'state_dict' is a {type(state).__name__}"
                              ', not a dict of tensors')
    revised = {}
    for key, value in state.items():
        key = str(key)
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    return revised


def check_state_dict_fits(checkpoint: Mapping, model: torch.nn.Module,
                          name: str,
                          prefixes: Optional[Sequence[str]] = (),
                          revise_keys: Sequence = ((r'^module\.', ''), )
                          ) -> None:
    """Raise CheckpointError when ``checkpoint``'s state dict (after
    ``revise_keys``, as mmengine applies them) differs from ``model``'s in a
    key outside ``prefixes`` (``None``: anything may differ)."""
    try:
        state = _state_dict(checkpoint, revise_keys)
    except CheckpointError as err:
        raise CheckpointError(f'{name}: {err}') from None
    if prefixes is None:
        return
    prefixes = tuple(prefixes)
    expected = model.state_dict()

    def counts(key: str) -> bool:
        return not key.startswith(prefixes) if prefixes else True

    missing = [k for k in expected if k not in state and counts(k)]
    unexpected = [k for k in state if k not in expected and counts(k)]
    not_tensor = [k for k in state if k in expected and counts(k)
                  and not isinstance(state[k], torch.Tensor)]
    shapes = [
        f'{k}: {tuple(state[k].shape)} vs {tuple(expected[k].shape)}'
        for k in expected if k in state and counts(k)
        and isinstance(state[k], torch.Tensor)
        and state[k].shape != expected[k].shape
    ]
    parts = [
        f'{len(items)} {title} (first: {items[:3]})'
        for title, items in (('missing', missing), ('unexpected', unexpected),
                             ('shape mismatch', shapes),
                             ('not a tensor', not_tensor)) if items
    ]
    if parts:
        allowed = (f' outside {list(prefixes)}' if prefixes else '')
        raise CheckpointError(
            f'{name} does not fit the model{allowed}: {"; ".join(parts)}. '
            'To load only what fits, set load_from_partial=True (or a list '
            'of key prefixes that may differ) in the config')


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) \
        and value >= 0


def check_resumable(checkpoint: Mapping, name: str) -> None:
    """Raise CheckpointError unless ``checkpoint`` has what mmengine's
    ``Runner.resume`` reads, with the types it needs."""
    def refuse(problem: str) -> None:
        raise CheckpointError(f'cannot resume from {name}: {problem}')

    if 'meta' not in checkpoint or 'state_dict' not in checkpoint:
        refuse("it has no 'meta'/'state_dict' (it looks like weights only, "
               'not a training checkpoint); start from it with '
               'load_from=... instead of --resume')
    meta = checkpoint['meta']
    if not isinstance(meta, Mapping):
        refuse(f"its 'meta' is a {type(meta).__name__}, not a dict")
    for key in ('epoch', 'iter'):
        if not _is_int(meta.get(key)):
            refuse(f"meta[{key!r}] must be a non-negative int, got "
                   f'{meta.get(key)!r}')
    if 'config' in meta and not isinstance(meta['config'], str):
        refuse("meta['config'] must be the config text (a str), got a "
               f"{type(meta['config']).__name__}")
    if meta.get('seed') is not None and not isinstance(meta['seed'], int):
        refuse(f"meta['seed'] must be an int, got {meta['seed']!r}")
    hub = checkpoint.get('message_hub')
    if not isinstance(hub, Mapping) or not all(
            isinstance(hub.get(k), Mapping)
            for k in ('log_scalars', 'runtime_info', 'resumed_keys')):
        refuse("its 'message_hub' is not mmengine's (a dict of dicts "
               "'log_scalars', 'runtime_info', 'resumed_keys')")
    for key, kinds in (('optimizer', (Mapping, )),
                       ('param_schedulers', (list, Mapping))):
        if key in checkpoint and not isinstance(checkpoint[key], kinds):
            refuse(f'its {key!r} is a {type(checkpoint[key]).__name__}')
