"""``--compile`` that compiles once: the model's backbone, neck and head,
not mmengine's whole ``train_step``.

mmengine's ``compile`` option runs ``torch.compile(model.train_step)``:
Dynamo then traces the data preprocessor too, and Mixup draws a new
Python float (its lambda) every step, which Dynamo specialises on -- every
iteration recompiled until Dynamo gave up after 8 and fell back to eager
(``TORCH_LOGS=recompiles``: ``mixup.py ... ___stack0 == 0.9758...``). The
optimizer step added guards on its state filling up after step 1.

The config key ``compile_model`` (``tools/train.py --compile [BACKEND]``)
instead compiles the parts whose computation is the same every step: the
model's ``backbone``, ``neck`` and ``head`` (a model without them: its
``forward``), each in place with :meth:`torch.nn.Module.compile`. The data
preprocessor (normalisation, Mixup), the loss on soft labels and the
optimizer step stay eager. In place means nothing else changes: the
parameters are the same objects (the optimizer and DDP hold them), and
``state_dict`` keys carry no ``_orig_mod.`` prefix, so checkpoints load
anywhere, compiled or not.

A part is compiled lazily, on its first call (the first iteration is
slow); training and evaluation mode (validation) each compile once.

Example::

    >>> model = nn.Sequential(nn.Linear(4, 4))
    >>> compile_model(model, dict(backend='eager'))
    ['(model)']
    >>> list(model.state_dict())
    ['0.weight', '0.bias']
"""
from typing import Any, Dict, List, Optional, Union

import torch.nn as nn

__all__ = ['COMPILED_PARTS', 'COMPILE_KEYS', 'compile_options',
           'compile_model', 'is_compiled']

#: The parts of a model that :func:`compile_model` compiles, where present
#: (mmpretrain's ImageClassifier has all three).
COMPILED_PARTS = ('backbone', 'neck', 'head')

#: The keys of ``compile_model``: ``torch.compile``'s keyword arguments.
COMPILE_KEYS = ('backend', 'mode', 'fullgraph', 'dynamic', 'options',
                'disable')


def compile_options(value: Union[None, bool, str, Dict[str, Any]],
                    what: str = 'compile_model') -> Optional[Dict[str, Any]]:
    """``torch.compile`` keyword arguments from a config value: ``None`` or
    ``False`` (do not compile), ``True`` (the defaults: inductor), a
    backend name, or a dict of :data:`COMPILE_KEYS`.

    Raises:
        TypeError: another type; the message names ``what``.
        ValueError: a dict with other keys, or a backend that is not a
            non-empty string.
    """
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, str):
        value = dict(backend=value)
    if not isinstance(value, dict):
        raise TypeError(f'{what} must be a bool, a backend name or a dict of '
                        f'torch.compile options {COMPILE_KEYS}, but got '
                        f'{type(value).__name__}')
    unknown = sorted(set(value) - set(COMPILE_KEYS))
    if unknown:
        raise ValueError(f'{what} has unknown keys {unknown}; valid keys '
                         f'(torch.compile arguments): {COMPILE_KEYS}')
    backend = value.get('backend', 'inductor')
    if not isinstance(backend, str) or not backend:
        raise ValueError(f'{what}.backend must be a backend name (e.g. '
                         f"'inductor', 'aot_eager', 'eager'; see "
                         f'torch._dynamo.list_backends()), but got '
                         f'{backend!r}')
    return dict(value)


def compile_model(model: nn.Module,
                  options: Union[None, bool, str, Dict[str, Any]]
                  ) -> List[str]:
    """Compile ``model``'s :data:`COMPILED_PARTS` in place (see the module
    doc); a model with none of them is compiled whole (its ``forward``:
    mmengine's ``train_step`` calls the data preprocessor outside it).

    Call it on the bare model, before a DDP wrapper.

    Args:
        model: The model (not wrapped).
        options: See :func:`compile_options`; None/False does nothing.

    Returns:
        The names of the compiled parts (``['(model)']`` for the whole).
    """
    kwargs = compile_options(options)
    if kwargs is None:
        return []
    parts = [(name, getattr(model, name)) for name in COMPILED_PARTS
             if isinstance(getattr(model, name, None), nn.Module)]
    if not parts:
        parts = [('(model)', model)]
    for _, part in parts:
        # In place: the module keeps its parameters and state_dict keys;
        # its __call__ runs the compiled forward (hooks included).
        part.compile(**kwargs)
    return [name for name, _ in parts]


def is_compiled(module: nn.Module) -> bool:
    """Whether :meth:`torch.nn.Module.compile` was applied to ``module``."""
    return getattr(module, '_compiled_call_impl', None) is not None

