"""ONNX export with a dynamic batch size, checked with ONNX Runtime."""
import io
import warnings
from typing import List

import numpy as np
import torch
import torch.nn as nn

from .utils import (count_non_finite, flatten_tensors, relative_error,
                    run_model)

#: ONNX opset of the exports (ONNX Runtime >= 1.12 runs it).
OPSET = 17


class _TensorOutputs(nn.Module):
    """``run_model`` with the outputs flattened to a tuple of tensors
    (ONNX graphs return a flat list)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor):
        return tuple(flatten_tensors(run_model(self.model, inputs)))


def export_onnx(model: nn.Module, inputs: torch.Tensor) -> bytes:
    """The ONNX model of ``run_model(model, inputs)``, as bytes.

    The input is ``input``; the outputs (the tensors of the model's output,
    flattened) are ``output0``, ``output1``...; the batch dimension of all of
    them is dynamic. The model is exported in eval mode.

    Example:
        >>> onnx_bytes = export_onnx(model, torch.rand(1, 3, 64, 64))
        >>> check_onnx(onnx_bytes, model, torch.rand(2, 3, 64, 64))
    """
    model.eval()
    wrapper = _TensorOutputs(model)
    with torch.no_grad():
        num_outputs = len(wrapper(inputs))
    output_names = [f'output{i}' for i in range(num_outputs)]
    dynamic = {name: {0: 'batch'} for name in ['input', *output_names]}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of the
        # dynamo one, which needs onnxscript; tracer warnings are about
        # Python values (shape checks) frozen into the graph.
        warnings.simplefilter('ignore')
        torch.onnx.export(
            wrapper, (inputs, ), buffer, dynamo=False,
            input_names=['input'], output_names=output_names,
            dynamic_axes=dynamic, opset_version=OPSET)
    return buffer.getvalue()


def onnx_outputs(onnx_model: bytes,
                 inputs: torch.Tensor) -> List[torch.Tensor]:
    """Run an ONNX model on ``inputs`` with ONNX Runtime (CPU)."""
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    # As many threads as torch uses (ONNX Runtime takes every core).
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(
        onnx_model, options, providers=['CPUExecutionProvider'])
    feed = {session.get_inputs()[0].name: inputs.detach().cpu().numpy()}
    return [torch.from_numpy(np.asarray(out))
            for out in session.run(None, feed)]


def check_onnx(onnx_model: bytes, model: nn.Module, inputs: torch.Tensor,
               rtol: float = 1e-4) -> float:
    """Compare ONNX Runtime with PyTorch on ``inputs``.

    Give ``inputs`` another batch size than the export's to check that the
    batch dimension is dynamic.

    Returns:
        The largest relative error (max abs difference / max abs value).

    Raises:
        ValueError: the outputs differ in number or shape, or by more than
            ``rtol``, or either holds NaN / inf.
    """
    model.eval()
    with torch.no_grad():
        expected = flatten_tensors(run_model(model, inputs))
    actual = onnx_outputs(onnx_model, inputs)
    for label, outputs in (('PyTorch', expected), ('ONNX Runtime', actual)):
        bad = count_non_finite(outputs)
        if bad:
            raise ValueError(f'{label} gives {bad} non-finite (NaN/inf) '
                             'output value(s): equivalence cannot be checked')
    error = relative_error(actual, expected)
    if error > rtol:
        raise ValueError(f'ONNX Runtime differs from PyTorch: relative error '
                         f'{error:.2e} > {rtol:.0e}')
    return error
