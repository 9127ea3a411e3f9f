"""Deploy a trained checkpoint: load, convert, verify, then write.

:func:`deploy_checkpoint` is what ``tools/deploy.py`` runs. Every check
comes before the first write, so a refusal leaves no file behind; each file
is written atomically, and no output may be one of the inputs.
"""
import copy
import io
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmbackbones.converters.base import describe_mismatch, unwrap_state_dict
from mmbackbones.engine import (CheckpointError, load_checkpoint_file,
                                save_checkpoint_file)
from mmbackbones.utils import (InputError, atomic_write, config_file,
                               load_config)
from .config import config_text, deploy_config
from .convert import DeployInfo, convert_to_deploy
from .onnx import check_onnx, export_onnx
from .utils import (count_non_finite, non_finite_tensors, relative_error,
                    run_model)


class DeployError(InputError, ValueError):
    """Deployment refused; the message says why. Nothing was written.

    An :class:`~mmbackbones.utils.InputError`: the tools report it as one
    line and exit status 2, like any bad input."""


@contextmanager
def refusing(what: str):
    """Turn any error inside into a one-line DeployError."""
    try:
        yield
    except DeployError:
        raise
    except Exception as err:
        lines = str(err).strip().splitlines()
        detail = f': {lines[0]}' if lines else ''
        raise DeployError(f'{what}: {type(err).__name__}{detail}') from None


@dataclass
class DeployResult:
    """What :func:`deploy_checkpoint` did."""
    original: nn.Module  # the training form, with the checkpoint's weights
    deployed: nn.Module  # the deploy form
    info: DeployInfo
    inputs: torch.Tensor  # the random verification input
    error: float  # max relative error, deploy vs original
    onnx_error: Optional[float] = None  # ONNX Runtime vs PyTorch
    written: List[str] = field(default_factory=list)


def deploy_paths(out: str) -> Tuple[str, str]:
    """``OUT.pth`` -> (``OUT.pth``, ``OUT.py``)."""
    root, ext = os.path.splitext(out)
    if ext != '.pth' or not os.path.basename(root):
        raise DeployError(f'--out must name a .pth file, but got {out!r}')
    return out, root + '.py'


def _same_file(a: str, b: str) -> bool:
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)


def check_output_paths(inputs: Sequence[Tuple[str, str]],
                       outputs: Sequence[str]) -> None:
    """Refuse outputs that are an input file, or each other."""
    for i, out in enumerate(outputs):
        for label, path in inputs:
            if _same_file(out, path):
                raise DeployError(f'refusing to overwrite the {label} {path} '
                                  f'with an output; choose another --out / '
                                  '--onnx')
        for other in outputs[:i]:
            if _same_file(out, other):
                raise DeployError(f'two outputs are the same file: {out}')


def load_model_config(path: str) -> Config:
    """Read a config (the one :func:`~mmbackbones.utils.load_config`), check
    that it has a model dict and make its ``default_scope`` current."""
    try:
        cfg = load_config(path)
    except InputError as err:
        raise DeployError(str(err)) from None
    if not isinstance(cfg.get('model'), dict):
        raise DeployError(f'{path} has no model dict')
    init_default_scope(cfg.get('default_scope', 'mmbackbones'))
    return cfg


def build_model(model_cfg: dict, source: str) -> nn.Module:
    from mmbackbones.registry import MODELS
    try:
        model = MODELS.build(copy.deepcopy(model_cfg))
    except Exception as err:  # unknown types, bad arguments
        raise DeployError(f'cannot build the model of {source}: '
                          f'{type(err).__name__}: {err}') from None
    model.eval()
    return model


def load_weights(model: nn.Module, checkpoint: str, config: str) -> None:
    """Load a checkpoint with strict keys, or refuse with the mismatch."""
    try:
        state = unwrap_state_dict(load_checkpoint_file(checkpoint))
    except CheckpointError as err:
        raise DeployError(str(err)) from None
    problem = describe_mismatch(state, model.state_dict())
    if problem:
        hint = ''
        if any('branch_reparam' in key for key in state):
            hint = (' (it looks like a deploy checkpoint already: build it '
                    'with the deploy config written beside it)')
        raise DeployError(f'{checkpoint} is not a checkpoint of the model in '
                          f'{config}: {problem}{hint}')
    model.load_state_dict(state, strict=True)


def example_inputs(model: nn.Module, batch: int, shape: Sequence[int],
                   seed: int = 0) -> torch.Tensor:
    """A random image batch, with the backbone's ``in_channels`` (3 when
    the model does not say)."""
    channels = getattr(getattr(model, 'backbone', model), 'in_channels', 3)
    if not isinstance(channels, int):
        channels = 3
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, *shape, generator=generator)


def refuse_non_finite(outputs: Any, what: str, inputs: torch.Tensor,
                      model: Optional[nn.Module] = None) -> None:
    """Refuse when ``outputs`` hold NaN / inf: a comparison with them
    proves nothing (NaN passes every ``error > rtol`` test)."""
    bad = count_non_finite(outputs)
    if not bad:
        return
    where = ''
    names = non_finite_tensors(model) if model is not None else []
    if names:
        where = f'; non-finite weights or statistics in: {", ".join(names)}'
    elif model is not None:
        where = '; its weights are finite, so the model itself overflows'
    raise DeployError(
        f'{what} gives {bad} non-finite (NaN/inf) output value(s) on a '
        f'random input of shape {tuple(inputs.shape)}{where}; equivalence '
        'cannot be checked, nothing was written')


def _error(outputs: Any, expected: Any) -> float:
    try:
        return relative_error(outputs, expected)
    except ValueError as err:  # outputs of another structure
        raise DeployError(f'the deploy model gives other outputs: {err}')


def _weights_only_copy(state: dict) -> dict:
    """``state`` after a save / ``torch.load(weights_only=True)`` round
    trip: what a user of the written checkpoint will get."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _rebuild_from_config(text: str, state: dict, expected: Any,
                         inputs: torch.Tensor, rtol: float) -> None:
    """Check that the written config and weights give the deploy model."""
    cfg = Config.fromstring(text, '.py')
    rebuilt = build_model(cfg.model, 'the deploy config')
    try:
        rebuilt.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise DeployError('the deploy config does not build the deploy '
                          f'structure: {str(err).splitlines()[0]}') from None
    with torch.no_grad():
        error = _error(run_model(rebuilt, inputs), expected)
    if error > rtol:
        raise DeployError(f'the model built from the deploy config differs '
                          f'from the deploy model (relative error '
                          f'{error:.2e})')


def _convert_and_verify(model: nn.Module, inputs: torch.Tensor, fuse: bool,
                        rtol: float) -> Tuple[DeployResult, Any]:
    """Convert a copy of ``model`` and check it against the original on
    ``inputs``; the result and the deploy model's outputs."""
    with refusing(f'cannot run the model on a random input of shape '
                  f'{tuple(inputs.shape)} (see --shape)'), torch.no_grad():
        expected = run_model(model, inputs)
    refuse_non_finite(expected, 'the original model (with the checkpoint\'s '
                      'weights)', inputs, model)
    deployed = copy.deepcopy(model)
    with refusing('cannot convert the model'):  # e.g. RepVGG with GroupNorm
        info = convert_to_deploy(deployed, inputs[:1], fuse=fuse)
    with refusing('the deploy model fails'), torch.no_grad():
        deployed_outputs = run_model(deployed, inputs)
    refuse_non_finite(deployed_outputs, 'the deploy model', inputs, deployed)
    error = _error(deployed_outputs, expected)
    if error > rtol:
        raise DeployError(
            f'the deploy model differs from the original: max relative '
            f'error {error:.2e} > {rtol:.0e} on random input; nothing was '
            'written')
    return DeployResult(model, deployed, info, inputs, error), \
        deployed_outputs


def deploy_checkpoint(config: str,
                      checkpoint: str,
                      out: str,
                      onnx: Optional[str] = None,
                      fuse: bool = True,
                      shape: Sequence[int] = (224, 224),
                      batch: int = 2,
                      rtol: float = 1e-5,
                      onnx_rtol: float = 1e-4,
                      seed: int = 0) -> DeployResult:
    """Write the deploy form of a checkpoint: ``OUT.pth`` (weights),
    ``OUT.py`` (config) and optionally an ONNX file.

    Before writing anything it checks, on a random ``batch`` of ``shape``
    images in eval mode, that the deploy model equals the original to
    ``rtol`` relative error, that ``OUT.py`` rebuilds it and ``OUT.pth``
    loads into it with strict keys after a ``weights_only`` round trip, and
    (with ``onnx``) that ONNX Runtime equals PyTorch to ``onnx_rtol`` at
    another batch size than the export's.

    ``config`` is a config file or a model name (``'repvgg_a0'``:
    ``mmbackbones.list_models()``).

    Raises:
        DeployError: any refusal (bad paths, an unknown config or model
            name, a checkpoint of another architecture, an unsafe or
            corrupt file, a deploy model that differs); nothing has been
            written then.
    """
    try:
        config = config_file(config)
    except InputError as err:  # the zoo's closest names
        raise DeployError(str(err)) from None
    out_pth, out_py = deploy_paths(out)
    outputs = [out_pth, out_py] + ([onnx] if onnx else [])
    check_output_paths([('config', config), ('checkpoint', checkpoint)],
                       outputs)
    cfg = load_model_config(config)
    model = build_model(cfg.model, config)
    load_weights(model, checkpoint, config)
    inputs = example_inputs(model, batch, shape, seed)
    result, deployed_outputs = _convert_and_verify(model, inputs, fuse, rtol)

    try:
        text = config_text(
            deploy_config(cfg, result.info),
            header=f'Deploy config written by tools/deploy.py from {config}\n'
            f'for the weights {os.path.basename(out_pth)} (converted from '
            f'{checkpoint}).\nBuild the model with MODELS.build(cfg.model) '
            'and load the weights with strict keys.')
    except ValueError as err:  # e.g. already a deploy config
        raise DeployError(str(err)) from None
    state = _weights_only_copy(result.deployed.state_dict())
    _rebuild_from_config(text, state, deployed_outputs, inputs, rtol)

    onnx_bytes = None
    if onnx:
        with refusing('cannot export the deploy model to ONNX'):
            onnx_bytes = export_onnx(result.deployed, inputs[:1])
        with refusing('ONNX check failed (nothing was written)'):
            result.onnx_error = check_onnx(onnx_bytes, result.deployed,
                                           inputs, onnx_rtol)

    meta = dict(deploy=dict(
        config=os.path.abspath(config), checkpoint=os.path.abspath(checkpoint),
        reparameterized=len(result.info.reparameterized),
        fused_conv_bn=len(result.info.fused),
        max_relative_error=result.error))
    save_checkpoint_file(dict(state_dict=state, meta=meta), out_pth)
    atomic_write(out_py, lambda f: f.write(text.encode('utf-8')))
    if onnx_bytes is not None:
        atomic_write(onnx, lambda f: f.write(onnx_bytes))
    result.written = outputs
    return result
