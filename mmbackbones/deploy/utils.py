"""Running any model on a tensor and comparing outputs."""
from typing import Any, List

import torch
import torch.nn as nn
from mmengine.model import BaseModel


def run_model(model: nn.Module, inputs: torch.Tensor) -> Any:
    """Forward ``inputs`` through a backbone, or through an mmengine model
    (classifier, detector, segmentor) in its ``'tensor'`` mode, which
    returns the raw network outputs without pre- or post-processing."""
    if isinstance(model, BaseModel):
        return model(inputs, mode='tensor')
    return model(inputs)


def flatten_tensors(outputs: Any) -> List[torch.Tensor]:
    """The tensors of nested tuples / lists / dicts, in order."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [t for item in outputs for t in flatten_tensors(item)]
    return []


def relative_error(outputs: Any, reference: Any) -> float:
    """Largest ``max|a - b| / max|b|`` over the tensors of two outputs.

    Raises:
        ValueError: the outputs differ in structure or shape.
    """
    ours, ref = flatten_tensors(outputs), flatten_tensors(reference)
    if len(ours) != len(ref) or not ref:
        raise ValueError(f'outputs differ: {len(ours)} vs {len(ref)} '
                         'tensors')
    worst = 0.0
    for a, b in zip(ours, ref):
        if a.shape != b.shape:
            raise ValueError(f'output shapes differ: {tuple(a.shape)} vs '
                             f'{tuple(b.shape)}')
        a, b = a.detach().double(), b.detach().double()
        scale = b.abs().max().clamp_min(1e-12)
        worst = max(worst, ((a - b).abs().max() / scale).item())
    return worst
