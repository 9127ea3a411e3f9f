"""Running any model on a tensor and comparing outputs."""
import math
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


def count_non_finite(outputs: Any) -> int:
    """How many NaN / inf values the tensors of ``outputs`` hold."""
    return sum(int((~torch.isfinite(t.detach())).sum())
               for t in flatten_tensors(outputs) if t.is_floating_point())


def relative_error(outputs: Any, reference: Any) -> float:
    """Largest ``max|a - b| / max|b|`` over the tensors of two outputs.

    NaN-safe: a NaN or inf in either output makes the error ``inf`` (NaN
    compares False with every tolerance, so ``error > rtol`` would pass it),
    even where both hold the same non-finite value -- a non-finite output
    proves nothing about equivalence.

    Example:
        >>> relative_error(torch.ones(2), torch.ones(2))
        0.0
        >>> relative_error(torch.tensor([1., float('nan')]), torch.ones(2))
        inf

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
        if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
            return math.inf
        if a.numel() == 0:
            continue
        scale = b.abs().max().clamp_min(1e-12)
        worst = max(worst, ((a - b).abs().max() / scale).item())
    return worst


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
