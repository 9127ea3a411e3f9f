"""Parameters and FLOPs of a backbone and of the whole model of a config.

The counter is mmengine's (``mmengine.analysis.FlopAnalyzer``, the engine
behind ``get_model_complexity_info``; a port of fvcore's): it traces one
forward pass with ``torch.jit`` and counts, per operator, what fvcore and
mmpretrain's ``tools/analysis_tools/get_flops.py`` count.

Convention: **FLOPs = multiply-adds** (one fused multiply-add of a
convolution or linear layer counts 1), for a batch of one image. BatchNorm,
(adaptive) average pooling and upsampling count one per element as fvcore
counts them; element-wise additions, activations and max pooling count 0
(they are the ``unsupported`` operators, listed in
:attr:`Complexity.unsupported_ops`). Depthwise and grouped convolutions
count ``Cout * Cin / groups * k * k`` per output position, so ShuffleNet,
MobileNet, ResNeXt and RepVGG-g4 come out as their papers count them;
channel shuffle (view/transpose) counts 0; squeeze-and-excitation counts its
two small linear or 1x1 layers and its pooling.

Parameters are counted without running anything, so they also work on the
``meta`` device (a 100M-parameter model costs no memory or time there).

Example:
    >>> from mmbackbones.analysis.complexity import config_complexity
    >>> c = config_complexity('configs/resnet/resnet18.py', (224, 224))
    >>> c.backbone_params, round(c.backbone_flops / 1e9, 2)
    (11176512, 1.82)
"""
import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

Shape = Tuple[int, int]


@dataclass
class Complexity:
    """Params and FLOPs (multiply-adds) of a model and of its backbone."""
    #: The input counted, (C, H, W), batch 1.
    input_shape: Tuple[int, int, int]
    #: Parameters of the backbone alone (the neck and head excluded).
    backbone_params: int
    #: Parameters of the whole model (backbone, neck, head).
    model_params: int
    #: Multiply-adds of the backbone's forward pass (None: not counted).
    backbone_flops: Optional[int] = None
    #: Multiply-adds of the whole model's forward pass (None: not counted).
    model_flops: Optional[int] = None
    #: Operators the counter saw and counts as 0, with how often.
    unsupported_ops: Dict[str, int] = field(default_factory=dict)


def count_params(module: nn.Module) -> int:
    """Number of parameters (shared ones once); works on the meta device.

    Example:
        >>> count_params(nn.Conv2d(3, 8, 3))
        224
    """
    return sum(p.numel() for p in module.parameters())


def check_shape(shape: Union[int, Sequence[int]]) -> Shape:
    """``S`` or ``(H, W)`` as ``(H, W)``; ValueError naming ``shape`` when it
    is not one or two positive integers.

    Example:
        >>> check_shape(224), check_shape((256, 192))
        ((224, 224), (256, 192))
    """
    values = [shape] if isinstance(shape, int) else list(shape)
    if (len(values) not in (1, 2) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0
            for v in values)):
        raise ValueError(f'shape must be one positive integer S (an S x S '
                         f'input) or two (H, W), but it is {shape!r}')
    return (values[0], values[-1])


def count_flops(model: nn.Module, inputs: torch.Tensor
                ) -> Tuple[int, Dict[str, int], Dict[str, int]]:
    """Multiply-adds of ``model(inputs)`` with mmengine's counter.

    Returns:
        ``(total, by_module, unsupported)``: the total, the count of each
        submodule by name ('' the model), and the operators counted as 0.

    Example:
        >>> total, by_module, _ = count_flops(nn.Conv2d(3, 8, 3),
        ...                                   torch.rand(1, 3, 10, 10))
        >>> total  # 8 x 8 outputs x 8 channels x 3 x 3 x 3
        13824
    """
    from mmengine.analysis import FlopAnalyzer
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analyzer = FlopAnalyzer(model, (inputs, ))
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            analyzer.tracer_warnings('none')
            total = analyzer.total()
            by_module = dict(analyzer.by_module())
            unsupported = dict(analyzer.unsupported_ops())
    finally:
        model.train(was_training)
    return total, by_module, unsupported


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _shape(t) -> Optional[Tuple[int, ...]]:
    return tuple(t.shape) if isinstance(t, torch.Tensor) else None


def _arg(args, kwargs, index: int, name: str, default=None):
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _conv(out, args, kwargs, transposed=False) -> int:
    # mmengine's conv_flop_count: batch x prod(weight) x output positions
    # (input positions when transposed): one multiply-add per weight use.
    x, w = args[0], _arg(args, kwargs, 1, 'weight')
    spatial = (x.shape if transposed else out.shape)[2:]
    return int(x.shape[0]) * _numel(w.shape) * _numel(spatial)


def _matmul(a, b) -> int:
    sa, sb = list(a.shape), list(b.shape)
    sa = [1] + sa if len(sa) == 1 else sa
    sb = sb + [1] if len(sb) == 1 else sb
    return _numel(sa) * sb[-1]


def _einsum(args) -> int:
    import numpy as np
    equation = args[0].replace(' ', '')
    operands = args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    path = np.einsum_path(equation, *[np.zeros(o.shape) for o in operands],
                          optimize='optimal')[1]
    for line in path.split('\n'):
        if 'optimized flop' in line.lower():
            return int(float(line.split(':')[-1]) // 2)  # multiply-adds
    raise NotImplementedError(f'einsum {equation!r}')


def _norm(x, weight) -> int:
    # mmengine's norm_flop_counter: 5 per element with affine, else 4.
    return _numel(x.shape) * (5 if weight is not None else 4)


def _batch_norm(x, weight, training) -> int:
    if training:
        return _norm(x, weight)
    return _numel(x.shape) * (2 if weight is not None else 1)


def _interpolate(out, args, kwargs) -> int:
    mode = _arg(args, kwargs, 3, 'mode', 'nearest')
    scale = {'nearest': 1, 'bilinear': 4}.get(mode)
    return 0 if scale is None else scale * out.numel()


def _flop_rules() -> Dict[Any, Callable]:
    """``{torch function: flops(output, args, kwargs)}``: the operators
    mmengine's ``FlopAnalyzer`` counts (its ``_DEFAULT_SUPPORTED_FLOP_OPS``,
    the jit ops ``aten::_convolution``, ``linear``, ``addmm``, ``matmul``,
    ``mm``, ``bmm``, ``einsum``, ``batch_norm``, ``group_norm``,
    ``layer_norm``, ``instance_norm``, ``upsample_nearest2d``,
    ``upsample_bilinear2d``, ``adaptive_avg_pool2d``, ``grid_sampler``),
    with its formulas, seen at the level of the Python call that the jit
    trace records as that op."""
    F = torch.nn.functional
    conv = lambda out, a, k: _conv(out, a, k)  # noqa: E731
    convt = lambda out, a, k: _conv(out, a, k, transposed=True)  # noqa: E731
    mm = lambda out, a, k: _matmul(a[0], a[1])  # noqa: E731
    rules = {
        torch.conv1d: conv, torch.conv2d: conv, torch.conv3d: conv,
        torch.conv_transpose1d: convt, torch.conv_transpose2d: convt,
        torch.conv_transpose3d: convt,
        F.linear: lambda out, a, k: _numel(a[0].shape) * int(
            _arg(a, k, 1, 'weight').shape[0]),
        torch.addmm: lambda out, a, k: _matmul(a[1], a[2]),
        torch.matmul: mm, torch.mm: mm,
        torch.Tensor.matmul: mm, torch.Tensor.__matmul__: mm,
        torch.Tensor.mm: mm,
        torch.bmm: mm, torch.Tensor.bmm: mm,
        torch.einsum: lambda out, a, k: _einsum(a),
        F.batch_norm: lambda out, a, k: _batch_norm(
            a[0], _arg(a, k, 3, 'weight'), _arg(a, k, 5, 'training', False)),
        torch.batch_norm: lambda out, a, k: _batch_norm(
            a[0], _arg(a, k, 1, 'weight'), _arg(a, k, 5, 'training', False)),
        F.group_norm: lambda out, a, k: _norm(a[0], _arg(a, k, 2, 'weight')),
        F.layer_norm: lambda out, a, k: _norm(a[0], _arg(a, k, 2, 'weight')),
        F.instance_norm: lambda out, a, k: _norm(
            a[0], _arg(a, k, 3, 'weight')),
        F.interpolate: _interpolate,
        F.adaptive_avg_pool2d: lambda out, a, k: a[0].numel(),
        torch._C._nn.adaptive_avg_pool2d: lambda out, a, k: a[0].numel(),
        F.grid_sample: lambda out, a, k: 4 * out.numel(),
    }
    return rules


class MetaFlopCounter(torch.overrides.TorchFunctionMode):
    """Counts mmengine's FLOPs without running anything: a torch-function
    mode that sees each public call (``F.conv2d``, ``F.linear``,
    ``F.batch_norm``, ``torch.matmul``...) once -- calls nested inside a
    counted one are not seen again -- and applies
    :func:`_flop_rules`. Works on ``meta`` tensors, so a 100M-parameter
    model at 600 px is counted in about a second; it gives exactly
    ``FlopAnalyzer``'s totals (checked against it for every family by
    ``tests/tools/test_get_flops.py`` and
    :func:`compare_with_mmengine`).
    """

    def __init__(self):
        super().__init__()
        self.rules = _flop_rules()
        self.total = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        rule = self.rules.get(func)
        if rule is not None:
            self.total += int(rule(out, args, kwargs))
        return out


def count_flops_meta(model: nn.Module, inputs: torch.Tensor) -> int:
    """Multiply-adds of ``model(inputs)`` by :class:`MetaFlopCounter` (the
    model and inputs may live on the meta device).

    Example:
        >>> with torch.device('meta'):
        ...     conv = nn.Conv2d(3, 8, 3)
        >>> count_flops_meta(conv, torch.empty(1, 3, 10, 10, device='meta'))
        13824
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), MetaFlopCounter() as counter:
            model(inputs)
    finally:
        model.train(was_training)
    return counter.total


def build_model(model_cfg: dict, device: Union[str, torch.device] = 'cpu'
                ) -> nn.Module:
    """Build a model config (a classifier or a bare backbone) from our
    registry, in eval mode, on ``device`` ('meta': no memory, no init)."""
    import mmbackbones  # noqa: F401  (registers everything)
    from mmbackbones.registry import MODELS
    cfg = copy.deepcopy(model_cfg)
    if hasattr(cfg, 'to_dict'):
        cfg = cfg.to_dict()
    with torch.device(device):
        return MODELS.build(cfg).eval()


def backbone_of(model: nn.Module) -> nn.Module:
    """The ``backbone`` of a classifier, or the model when it is one."""
    return getattr(model, 'backbone', model)


def in_channels_of(model: nn.Module) -> int:
    """Input channels the model takes (3 when it does not say)."""
    return int(getattr(backbone_of(model), 'in_channels', 3) or 3)


COUNTERS = ('mmengine', 'meta')


def model_complexity(model: nn.Module, shape: Union[int, Sequence[int]],
                     flops: bool = True, counter: str = 'mmengine'
                     ) -> Complexity:
    """Params and, with ``flops``, multiply-adds of ``model`` (a classifier
    with a ``backbone``, or a bare backbone) for one ``shape`` input.

    Args:
        model: The model (on the meta device for ``counter='meta'`` or
            params only).
        shape: ``S`` or ``(H, W)``.
        flops: Count FLOPs too.
        counter: ``'mmengine'`` (``FlopAnalyzer``: traces a real forward
            pass, reports the operators it counts as 0) or ``'meta'``
            (:class:`MetaFlopCounter`: the same totals, nothing computed).

    Example:
        >>> from mmbackbones.models import ShuffleNetV2
        >>> c = model_complexity(ShuffleNetV2(widen_factor=1.0), 224)
        >>> c.backbone_params, round(c.backbone_flops / 1e6, 1)
        (1253604, 147.8)
    """
    if counter not in COUNTERS:
        raise ValueError(f'counter must be one of {COUNTERS}, but it is '
                         f'{counter!r}')
    h, w = check_shape(shape)
    backbone = backbone_of(model)
    result = Complexity(input_shape=(in_channels_of(model), h, w),
                        backbone_params=count_params(backbone),
                        model_params=count_params(model))
    if not flops:
        return result
    device = next(model.parameters()).device
    if counter == 'meta':
        inputs = torch.empty(1, *result.input_shape, device='meta')
        if device.type != 'meta':
            raise ValueError("counter='meta' needs a model on the meta "
                             'device (build it under torch.device("meta"))')
        result.model_flops = count_flops_meta(model, inputs)
        result.backbone_flops = (count_flops_meta(backbone, inputs)
                                 if backbone is not model else
                                 result.model_flops)
        return result
    if device.type == 'meta':
        raise ValueError("mmengine's counter runs the model: build it on a "
                         "real device, not meta (or use counter='meta')")
    inputs = torch.rand(1, *result.input_shape, device=device)
    total, by_module, unsupported = count_flops(model, inputs)
    result.model_flops = total
    result.backbone_flops = (by_module.get('backbone', total)
                             if backbone is not model else total)
    result.unsupported_ops = unsupported
    return result


def config_complexity(config, shape: Union[int, Sequence[int], None] = None,
                      flops: bool = True, reparameterize: bool = False,
                      counter: str = 'mmengine') -> Complexity:
    """:func:`model_complexity` of the ``model`` of a config (a path or a
    loaded ``Config``) at ``shape`` (default: the config's test resolution,
    :func:`test_resolution`).

    Args:
        config: Config path or ``mmengine.Config``.
        shape: ``S`` or ``(H, W)``; None for the config's test crop.
        flops: Count FLOPs (``counter='mmengine'`` runs the model once) or
            only params (counted on the meta device).
        reparameterize: Count the inference structure: every
            re-parameterisable block switched (``switch_to_deploy()``,
            RepVGG's three branches become one 3x3 conv), as papers and
            mmpretrain count RepVGG. BatchNorm is not folded.
        counter: ``'mmengine'`` or ``'meta'`` (see :func:`model_complexity`).
    """
    from mmengine.config import Config
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if shape is None:
        shape = test_resolution(cfg)
    on_meta = counter == 'meta' or not flops
    model = build_model(cfg.model, 'meta' if on_meta else 'cpu')
    if reparameterize:
        from mmbackbones.deploy import reparameterize as switch
        switch(model)
    return model_complexity(model, shape, flops, counter)


def test_resolution(cfg) -> Shape:
    """The input size a config tests at: the last ``crop_size`` of its test
    (else val) pipeline, else the last resize ``scale``; 224 when neither.

    Example:
        >>> from mmengine.config import Config
        >>> test_resolution(Config.fromfile('configs/inception_v3.py'))
        (299, 299)
    """
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    dataset = loader.get('dataset', {}) if hasattr(loader, 'get') else {}
    while 'dataset' in dataset:  # wrappers (RepeatDataset, ...)
        dataset = dataset['dataset']
    size = None
    for key in ('crop_size', 'scale'):
        for transform in dataset.get('pipeline', []) or []:
            if transform.get(key) is not None:
                size = transform[key]
        if size is not None:
            break
    if size is None:
        return (224, 224)
    if isinstance(size, int):
        return (size, size)
    w, h = size  # mmcv's scales and crop sizes are (w, h)
    return (h, w)
