"""Fewer, larger parameter groups: the same optimizer, a faster step.

mmengine's ``DefaultOptimWrapperConstructor`` gives every parameter a
group of its own as soon as the config has a ``paramwise_cfg`` (ours all
do: no weight decay on norms and biases) -- ResNet-50 gets 161 groups, so
SGD's ``foreach`` kernels run over one tensor at a time. Merging the
groups whose settings are equal (two or three here: with and without
decay) changes no update (each parameter keeps its lr, momentum and
decay; schedulers scale every group's lr alike) but lets one multi-tensor
kernel update them all where PyTorch uses ``foreach`` kernels (its default
on GPU; on CPU its default is the per-tensor loop either way, and the merge
saves only the per-group overhead of ``step()``). The groups also become
plain dicts (mmengine's are ``ConfigDict``, which ``torch.compile`` cannot
trace through ``optimizer.step``).

Example::

    >>> groups = [dict(params=['w1'], lr=0.1, weight_decay=1e-4),
    ...           dict(params=['b1'], lr=0.1, weight_decay=0.0),
    ...           dict(params=['w2'], lr=0.1, weight_decay=1e-4)]
    >>> [g['params'] for g in merge_param_groups(groups)]
    [['w1', 'w2'], ['b1']]

Use it with ``optim_wrapper=dict(..., constructor=
'GroupedOptimWrapperConstructor')``; ``tools/train.py`` does by default.
"""
from typing import Any, Dict, List

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from mmbackbones.registry import OPTIM_WRAPPER_CONSTRUCTORS


def merge_param_groups(groups: List[Dict[str, Any]]) -> List[dict]:
    """Groups with equal settings (everything but ``params``) merged, in
    the order their first parameter came; plain dicts."""
    merged: Dict[tuple, dict] = {}
    for group in groups:
        settings = {k: v for k, v in group.items() if k != 'params'}
        key = tuple(sorted((k, repr(v)) for k, v in settings.items()))
        if key not in merged:
            merged[key] = dict(settings, params=[])
        merged[key]['params'].extend(group['params'])
    return list(merged.values())


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class GroupedOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, with the parameter groups merged
    (see the module doc)."""

    def __call__(self, model: nn.Module) -> OptimWrapper:
        wrapper = super().__call__(model)
        optimizer = wrapper.optimizer
        optimizer.param_groups = merge_param_groups(optimizer.param_groups)
        return wrapper
