"""Running any model on a tensor; where its non-finite values come from.

Comparing outputs is :mod:`mmbackbones.utils`' (imported here, so
``mmbackbones.deploy.utils.relative_error`` is that one).
"""
from typing import Any, List

import torch
import torch.nn as nn
from mmengine.model import BaseModel

from mmbackbones.utils import (count_non_finite, flatten_tensors,  # noqa
                               relative_error)

__all__ = ['count_non_finite', 'flatten_tensors', 'non_finite_tensors',
           'relative_error', 'run_model']


def run_model(model: nn.Module, inputs: torch.Tensor) -> Any:
    """Forward ``inputs`` through a backbone, or through an mmengine model
    (classifier, detector, segmentor) in its ``'tensor'`` mode, which
    returns the raw network outputs without pre- or post-processing."""
    if isinstance(model, BaseModel):
        return model(inputs, mode='tensor')
    return model(inputs)


def non_finite_tensors(model: nn.Module, limit: int = 3) -> List[str]:
    """Names of (at most ``limit``) parameters / buffers of ``model`` that
    hold NaN or inf: where a non-finite output comes from."""
    names = []
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            names.append(name)
            if len(names) == limit:
                break
    return names
