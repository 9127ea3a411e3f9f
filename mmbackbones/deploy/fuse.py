"""Conv -> BatchNorm fusion, with the pairs found from the real data flow.

Module structure alone cannot say which BatchNorm follows which convolution
(a pre-activation block names ``bn1`` and ``conv1`` but runs ``bn1`` first;
a convolution's output may also feed a shortcut). So
:func:`find_conv_bn_pairs` runs the model once and records, for every
convolution output, every operation that reads it. A pair is fused only when
each output of the convolution is read by one BatchNorm and nothing else
(no residual add, no concat, not returned), and that BatchNorm reads nothing
but that convolution's outputs. Then ``bn(conv(x))`` is ``conv'(x)`` with
the folded kernel and bias of :func:`~mmbackbones.models.layers.fold_bn`,
and the BatchNorm becomes an ``nn.Identity`` (its keys leave the state
dict, the convolution gains a ``bias``).

Fast path, where the order is known by construction: in mmcv's
``ConvModule`` (``order`` with 'norm' right after 'conv') and in a plain
``nn.Sequential`` (a conv child right before a BN child) the conv's output
goes to the BN and nowhere else, *if* both are only ever called by that
parent's own forward. :func:`structural_pairs` lists those candidates; one
forward with call counters (no data-flow trace) checks that each conv, its
BN and their parent ran equally often. When the checked candidates cover
every foldable BatchNorm of the model, they are the answer; otherwise the
full trace decides for the whole model (it is the authority; the fast path
only skips it where it cannot find more). A test checks that both agree on
every registered family.
"""
from collections import defaultdict
from typing import (Any, Callable, Dict, List, Optional, Sequence, Set,
                    Tuple)

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.overrides import TorchFunctionMode

from mmbackbones.models.layers import fold_bn
from .utils import flatten_tensors, run_model

ConvBNPair = Tuple[str, str]


def _plain_forwards(*classes) -> Set[Callable]:
    return {cls.forward for cls in classes}


# Convolutions whose output is ``conv(x, weight) + bias`` (so a per-channel
# affine map after them folds into weight and bias). A weight-standardised
# conv, say, re-normalises its weight in forward and is left alone.
_CONV_FORWARDS = _plain_forwards(nn.Conv1d, nn.Conv2d, nn.Conv3d)
try:
    from mmcv.cnn import ConvModule
except ImportError:  # pragma: no cover
    ConvModule = None
try:
    # mmcv's wrappers only add empty-tensor handling; its TF-style "SAME"
    # convolution (EfficientNet's strided convs) zero-pads the input, then
    # convolves with weight and bias: still linear, so a BN after it folds.
    from mmcv.cnn.bricks.conv2d_adaptive_padding import Conv2dAdaptivePadding
    from mmcv.cnn.bricks.wrappers import Conv2d as _MMCVConv2d
    from mmcv.cnn.bricks.wrappers import Conv3d as _MMCVConv3d
    _CONV_FORWARDS |= _plain_forwards(_MMCVConv2d, _MMCVConv3d,
                                      Conv2dAdaptivePadding)
except ImportError:  # pragma: no cover
    pass
# BatchNorms that are only BatchNorm (timm's BatchNormAct2d also applies an
# activation: folding it away would drop the activation).
_BN_FORWARDS = _plain_forwards(_BatchNorm, nn.SyncBatchNorm)


def is_foldable_conv(module: nn.Module) -> bool:
    return (isinstance(module, _ConvNd) and not module.transposed
            and type(module).forward in _CONV_FORWARDS)


def is_foldable_bn(module: nn.Module) -> bool:
    return (isinstance(module, _BatchNorm)
            and type(module).forward in _BN_FORWARDS
            and not any(True for _ in module.children())
            and module.track_running_stats
            and module.running_mean is not None)


class _DataFlow(TorchFunctionMode):
    """Records who reads each convolution output during one forward.

    Module boundaries come from global forward hooks (a stack of running
    modules); reads come from the torch-function mode, which sees every
    torch operation, functional ones (``x + y``, ``torch.cat``) included.
    A read is attributed to the innermost running module; ``None`` stands
    for "outside any module" and for "returned by the model".
    """

    def __init__(self, convs: Set[nn.Module], bns: Set[nn.Module]):
        super().__init__()
        self.convs, self.bns = convs, bns
        self.stack: List[nn.Module] = []
        self.producer: Dict[int, nn.Module] = {}  # id(output) -> conv
        self.kept: List[torch.Tensor] = []  # keeps those ids unique
        self.readers: Dict[nn.Module, Set[Optional[nn.Module]]] = \
            defaultdict(set)
        self.bn_sources: Dict[nn.Module, Set[Optional[nn.Module]]] = \
            defaultdict(set)

    def pre_hook(self, module: nn.Module, args: Any) -> None:
        self.stack.append(module)

    def post_hook(self, module: nn.Module, args: Any, output: Any) -> None:
        self.stack.pop()
        if module in self.convs and isinstance(output, torch.Tensor):
            self.producer[id(output)] = module
            self.kept.append(output)
        elif module in self.bns:
            source = (self.producer.get(id(args[0])) if args
                      and isinstance(args[0], torch.Tensor) else None)
            self.bn_sources[module].add(source)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        # Metadata queries (x.shape, x.dim()) read no values; item
        # assignment returns nothing but writes into the tensor.
        if flatten_tensors(result) or getattr(func, '__name__',
                                              '') == '__setitem__':
            reader = self.stack[-1] if self.stack else None
            for tensor in flatten_tensors((list(args), kwargs)):
                conv = self.producer.get(id(tensor))
                if conv is not None:
                    self.readers[conv].add(reader)
        return result

    def mark_returned(self, outputs: Any) -> None:
        for tensor in flatten_tensors(outputs):
            conv = self.producer.get(id(tensor))
            if conv is not None:
                self.readers[conv].add(None)


ConvBNCandidate = Tuple[nn.Module, nn.Module, nn.Module]  # conv, bn, parent


def _no_own_hooks(*modules: nn.Module) -> bool:
    # A hook on the conv or the BN could read or change the tensor between
    # them; only the trace sees what it does.
    return not any(m._forward_hooks or m._forward_pre_hooks for m in modules)


def structural_pairs(model: nn.Module) -> List[ConvBNCandidate]:
    """(conv, BN, parent) where the parent's forward feeds the conv's
    output straight into the BN: a ``ConvModule`` whose ``order`` has
    'norm' right after 'conv', and adjacent conv, BN children of a plain
    ``nn.Sequential``. Candidates only: :func:`find_conv_bn_pairs` checks
    with call counts that nothing else calls the conv or the BN."""
    found = []
    for parent in model.modules():
        forward = type(parent).forward
        if ConvModule is not None and forward is ConvModule.forward:
            order = list(parent.order)
            if parent.with_norm and order.index('norm') == \
                    order.index('conv') + 1:
                found.append((parent.conv, parent.norm, parent))
        elif forward is nn.Sequential.forward:
            children = list(parent._modules.values())
            found += [(a, b, parent) for a, b in zip(children, children[1:])
                      if is_foldable_conv(a) and is_foldable_bn(b)]
    return [(conv, bn, parent) for conv, bn, parent in found
            if is_foldable_conv(conv) and is_foldable_bn(bn)
            and _no_own_hooks(conv, bn)]


def _call_counts(model: nn.Module, inputs: Any,
                 forward: Callable[[nn.Module, Any], Any]) -> Dict[int, int]:
    """How often each module ran in one forward (by ``id``)."""
    counts: Dict[int, int] = defaultdict(int)

    def count(module, args):
        counts[id(module)] += 1

    hook = nn.modules.module.register_module_forward_pre_hook(count)
    try:
        forward(model, inputs)
    finally:
        hook.remove()
    return counts


def _shared_parameters(model: nn.Module) -> Set[int]:
    """ids of parameters owned by more than one module (tied weights)."""
    owners: Dict[int, int] = defaultdict(int)
    for module in model.modules():
        for param in module.parameters(recurse=False):
            owners[id(param)] += 1
    return {pid for pid, count in owners.items() if count > 1}


@torch.no_grad()
def find_conv_bn_pairs(
        model: nn.Module,
        inputs: torch.Tensor,
        forward: Callable[[nn.Module, torch.Tensor], Any] = run_model,
        fast_path: bool = True) -> List[ConvBNPair]:
    """The (conv name, BN name) pairs of ``model`` that can be fused.

    Args:
        model: Any model; it is run once in eval mode (and left in eval
            mode).
        inputs: An input that ``forward(model, inputs)`` accepts; small is
            fine (the pairs do not depend on the input size).
        forward: How to run the model; default :func:`run_model`.
        fast_path: Try the structural pairs first (see the module
            docstring); False: always trace the data flow.

    Example:
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        >>> find_conv_bn_pairs(model, torch.rand(1, 3, 8, 8))
        [('0', '1')]
    """
    model.eval()
    names = {}
    for name, module in model.named_modules():
        names.setdefault(module, name)
    bns = {m for m in names if is_foldable_bn(m)}
    if not bns:
        return []
    shared = _shared_parameters(model)

    def fusable(conv: nn.Module, bn: nn.Module) -> bool:
        return (conv.out_channels == bn.num_features
                and not any(id(p) in shared for p in conv.parameters()))

    if fast_path:
        candidates = [(conv, bn, parent)
                      for conv, bn, parent in structural_pairs(model)
                      if fusable(conv, bn)]
        if {bn for _, bn, _ in candidates} == bns:
            counts = _call_counts(model, inputs, forward)
            if all(counts[id(conv)] == counts[id(bn)] == counts[id(parent)]
                   > 0 for conv, bn, parent in candidates):
                return _in_model_order(
                    [(names[conv], names[bn]) for conv, bn, _ in candidates],
                    names)
    return _traced_pairs(model, inputs, forward, names, bns, fusable)


def _traced_pairs(model: nn.Module, inputs: torch.Tensor,
                  forward: Callable[[nn.Module, torch.Tensor], Any],
                  names: Dict[nn.Module, str], bns: Set[nn.Module],
                  fusable: Callable[[nn.Module, nn.Module], bool]
                  ) -> List[ConvBNPair]:
    """The pairs that the data-flow trace of one forward finds."""
    convs = {m for m in names if is_foldable_conv(m)}
    flow = _DataFlow(convs, bns)
    hooks = [
        nn.modules.module.register_module_forward_pre_hook(flow.pre_hook),
        nn.modules.module.register_module_forward_hook(flow.post_hook),
    ]
    try:
        with flow:
            outputs = forward(model, inputs)
    finally:
        for hook in hooks:
            hook.remove()
    flow.mark_returned(outputs)

    pairs = []
    for conv, readers in flow.readers.items():
        bn = next(iter(readers)) if len(readers) == 1 else None
        if bn in bns and flow.bn_sources[bn] == {conv} and fusable(conv, bn):
            pairs.append((names[conv], names[bn]))
    return _in_model_order(pairs, names)


def _in_model_order(pairs: List[ConvBNPair],
                    names: Dict[nn.Module, str]) -> List[ConvBNPair]:
    order = {name: i for i, name in enumerate(names.values())}
    return sorted(pairs, key=lambda pair: order[pair[0]])


def _submodule(model: nn.Module, name: str, check: Callable[[nn.Module],
                                                            bool],
               what: str) -> nn.Module:
    try:
        module = model.get_submodule(name)
    except AttributeError:
        raise ValueError(f'conv-BN pair names {name!r}, which is not a '
                         f'module of this {type(model).__name__}') from None
    if not check(module):
        raise ValueError(f'conv-BN pair names {name!r}, a '
                         f'{type(module).__name__}, which is not {what}')
    return module


def _replace_everywhere(model: nn.Module, old: nn.Module,
                        new: nn.Module) -> None:
    """Replace every reference to ``old`` among the submodules."""
    for parent in list(model.modules()):
        for key, child in list(parent._modules.items()):
            if child is old:
                setattr(parent, key, new)


def disable_efficient_conv_bn_eval(model: nn.Module) -> None:
    """Switch off mmcv's ``efficient_conv_bn_eval`` in every ConvModule.

    In eval mode it runs a ConvModule's conv and BN as one call with a
    folded weight computed on every forward, so the BN never reads the
    conv's output and the trace would find no pair; folding does the same
    once, ahead of time.
    """
    for module in model.modules():
        if getattr(module, 'efficient_conv_bn_eval_forward', None):
            module.efficient_conv_bn_eval_forward = None


def fuse_conv_bn(model: nn.Module, pairs: Sequence[ConvBNPair]) -> None:
    """Fold each BN of ``pairs`` into its convolution, in place.

    The convolution gets the folded weight and a bias; the BatchNorm is
    replaced by ``nn.Identity``. Also used to give a freshly built model the
    fused structure before a fused state dict is loaded into it (so it also
    switches off ``efficient_conv_bn_eval``, which would apply the
    Identity as a BN).

    Raises:
        ValueError: a name that is not a foldable conv / BN of ``model``,
            or channel counts that do not match.
    """
    if pairs:
        disable_efficient_conv_bn_eval(model)
    for conv_name, bn_name in pairs:
        conv = _submodule(model, conv_name, is_foldable_conv,
                          'a plain convolution')
        bn = _submodule(model, bn_name, is_foldable_bn,
                        'a BatchNorm with running statistics')
        if conv.out_channels != bn.num_features:
            raise ValueError(
                f'{conv_name} has {conv.out_channels} output channels but '
                f'{bn_name} normalises {bn.num_features}')
        with torch.no_grad():
            kernel, bias = fold_bn(conv.weight, conv.bias, bn)
        trainable = conv.weight.requires_grad
        conv.weight = nn.Parameter(kernel.to(conv.weight),
                                   requires_grad=trainable)
        conv.bias = nn.Parameter(bias.to(conv.weight),
                                 requires_grad=trainable)
        _replace_everywhere(model, bn, nn.Identity())
