"""Training in channels_last (NHWC) memory format, with checkpoints that
stay contiguous.

Which format a family trains in by default is recorded, with the
measurement behind it, in :mod:`mmbackbones.analysis.memory_format`; the
config key ``memory_format`` (``tools/train.py --memory-format``) holds the
choice of a run. For ``'channels_last'``:

* the model is converted before it is wrapped (DDP sees the final
  parameters): ``model.to(memory_format=torch.channels_last)`` changes the
  strides of 4-d parameters in place, so the optimizer, ``load_state_dict``
  (it copies into the existing tensors) and resume are unaffected;
* :class:`MemoryFormatClsDataPreprocessor` hands the batch over in
  channels_last after normalisation and Mixup, so the first convolution
  does not convert it;
* :class:`ContiguousCheckpointHook` saves every tensor of a checkpoint
  contiguous: a checkpoint looks the same whichever format trained it and
  loads anywhere (mmpretrain, timm, plain ``torch.load``).

Memory format changes only strides, never values: the same weights give
the same outputs in either format (up to the summation order of the
convolution kernels, ~1e-6 relative in fp32).

Example::

    >>> import torch
    >>> net = to_memory_format(torch.nn.Conv2d(3, 8, 3), 'channels_last')
    >>> net.weight.is_contiguous(memory_format=torch.channels_last)
    True
"""
from typing import Any

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmpretrain.models.utils import ClsDataPreprocessor

from mmbackbones.registry import HOOKS, MODELS

#: The values of the ``memory_format`` config key, after ``'auto'`` is
#: resolved (``mmbackbones.analysis.memory_format``).
MEMORY_FORMATS = ('channels_last', 'contiguous')


def check_memory_format(memory_format: str, what: str = 'memory_format'
                        ) -> str:
    """Return ``memory_format`` if it is one of :data:`MEMORY_FORMATS`.

    Raises:
        ValueError: another value; the message names ``what``.
    """
    if memory_format not in MEMORY_FORMATS:
        raise ValueError(f'{what} must be one of {MEMORY_FORMATS}, but got '
                         f'{memory_format!r}')
    return memory_format


def torch_format(memory_format: str) -> torch.memory_format:
    """``'channels_last'`` -> ``torch.channels_last``; ``'contiguous'`` ->
    ``torch.contiguous_format``."""
    check_memory_format(memory_format)
    return (torch.channels_last if memory_format == 'channels_last' else
            torch.contiguous_format)


def to_memory_format(model: nn.Module, memory_format: str) -> nn.Module:
    """Convert the 4-d parameters and buffers of ``model`` in place (the
    same Parameter objects: optimizers holding them are unaffected) and
    return it."""
    return model.to(memory_format=torch_format(memory_format))


def map_tensors(obj: Any, fn) -> Any:
    """``obj`` with ``fn`` applied to every tensor in it (nested dicts,
    lists, tuples); other values are returned as they are."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return type(obj)((k, map_tensors(v, fn)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, '_fields'):
        return type(obj)(map_tensors(v, fn) for v in obj)
    return obj


def contiguous_tensors(obj: Any) -> Any:
    """``obj`` with every tensor in it made contiguous."""
    return map_tensors(obj, lambda t: t.contiguous())


@MODELS.register_module()
class MemoryFormatClsDataPreprocessor(ClsDataPreprocessor):
    """mmpretrain's ``ClsDataPreprocessor`` (normalisation, batching,
    Mixup/CutMix) whose batch comes out in ``memory_format``.

    Args:
        memory_format (str): ``'channels_last'`` (default) or
            ``'contiguous'``.
        **kwargs: See ``mmpretrain.models.ClsDataPreprocessor``.

    Example:
        >>> pre = MemoryFormatClsDataPreprocessor(mean=[0.] * 3,
        ...                                       std=[1.] * 3)
        >>> out = pre(dict(inputs=[torch.zeros(3, 8, 8)]))['inputs']
        >>> out.shape, out.is_contiguous(memory_format=torch.channels_last)
        (torch.Size([1, 3, 8, 8]), True)
    """

    def __init__(self, memory_format: str = 'channels_last', **kwargs):
        super().__init__(**kwargs)
        self.memory_format = check_memory_format(memory_format)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
            data['inputs'] = inputs.contiguous(
                memory_format=torch_format(self.memory_format))
        return data


@HOOKS.register_module()
class ContiguousCheckpointHook(Hook):
    """Save every tensor of a checkpoint (weights, optimizer state)
    contiguous, whatever memory format the run trains in; on resume, give
    the optimizer state back the run's format.

    The second half matters for correctness, not speed: PyTorch's fused
    optimizer kernels (``SGD(fused=True)``, what tools/train.py uses) walk a
    parameter, its gradient and its state as flat memory, so a contiguous
    momentum buffer next to a channels_last weight is paired element by
    element with the wrong values -- silently (measured: 0.41 max abs error
    after one step). Every 4-d optimizer state tensor belongs to a 4-d
    parameter, which the run converted to ``memory_format``.
    """

    priority = 'VERY_LOW'  # after hooks that add to the checkpoint

    def __init__(self, memory_format: str = 'channels_last'):
        self.memory_format = torch_format(memory_format)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in ('state_dict', 'optimizer', 'ema_state_dict'):
            if key in checkpoint:
                checkpoint[key] = contiguous_tensors(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # (mmengine's resume calls this before it loads the optimizer)
        if 'optimizer' in checkpoint:
            checkpoint['optimizer'] = map_tensors(
                checkpoint['optimizer'],
                lambda t: t.contiguous(memory_format=self.memory_format)
                if t.dim() == 4 else t)
