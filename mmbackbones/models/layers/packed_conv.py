"""Convolutions whose weights oneDNN packs once, for CPU inference.

PyTorch's eager CPU convolution hands oneDNN a plain (OIHW) weight on every
call, and oneDNN reorders it into its blocked layout each time: at batch 1
that reorder is a large share of the work (ResNet-50 at 160 px, 2 threads,
AVX-512: 73 ms eager channels_last, 43 ms with the weights packed once;
batch 32 gains nothing, the reorder is amortised there). The deploy form
(:func:`mmbackbones.deploy.convert_to_deploy`) therefore turns every plain
``nn.Conv2d`` into a :class:`PackedConv2d`: the same module with the same
parameters and state-dict keys, whose inference forward reuses a packed
copy of the weight. The copy lives outside the module (no state-dict key,
nothing for ``deepcopy``/pickle to carry) and is rebuilt when the weight,
its memory format or the input size changes.

Anywhere but fp32 CPU inference -- training or autograd, autocast, other
dtypes or devices, and under every tracer (TorchScript, torch.fx, ONNX
export, torch.compile) -- it is exactly ``nn.Conv2d``.
"""
import weakref
from typing import Dict, Optional

import torch
import torch.nn as nn


def _onednn_ops():
    """PyTorch's oneDNN convolution with a fused post-op (the kernel
    ``torch.compile`` uses on CPU) and its weight reorder, or None where
    this build lacks them."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return (torch.ops.mkldnn._convolution_pointwise,
                torch.ops.mkldnn._reorder_convolution_weight)
    except (AttributeError, RuntimeError):
        return None


_ONEDNN = _onednn_ops()

#: At most this many packed weights per convolution (one per input size
#: and memory format seen, most recent kept).
MAX_PACKED_PER_CONV = 4

# conv -> {(input shape, channels_last): (weight version, data_ptr, packed)}
_PACKED: 'weakref.WeakKeyDictionary[nn.Conv2d, Dict[tuple, tuple]]' = \
    weakref.WeakKeyDictionary()


def _function_mode_active() -> bool:
    # a TorchFunctionMode records the functions called and the tensors
    # they read (the deploy pair finder, parameter-use checks): it must see
    # the convolution read its weight
    return torch._C._len_torch_function_stack() > 0


def is_tracing(x) -> bool:
    """Whether a tracer, compiler or function mode is looking (it must see
    the plain ops); checked before anything touches ``x``'s values."""
    return (isinstance(x, torch.fx.Proxy) or torch.jit.is_tracing()
            or torch.jit.is_scripting() or torch.compiler.is_compiling()
            or torch.onnx.is_in_onnx_export() or _function_mode_active())


def onednn_inference(conv: nn.Module, x: torch.Tensor) -> bool:
    """Whether ``conv(x)`` may run as oneDNN inference: a plain zero-padded
    fp32 2-D convolution on CPU, no autograd, no autocast, no tracer."""
    if is_tracing(x):
        return False
    return (_ONEDNN is not None
            and torch.backends.mkldnn.enabled
            # not a subclass with its own forward (mmcv's adaptive padding)
            and type(conv) in (nn.Conv2d, PackedConv2d)
            and conv.padding_mode == 'zeros'
            and not isinstance(conv.padding, str)
            and x.device.type == 'cpu' and x.dim() == 4 and x.numel() > 0
            and x.dtype == torch.float32
            and conv.weight.dtype == torch.float32
            and conv.weight.device.type == 'cpu'
            # autocast would run the plain conv in bfloat16
            and not torch.is_autocast_enabled('cpu')
            # the oneDNN op has no autograd formula
            and not (torch.is_grad_enabled() and
                     (x.requires_grad or conv.weight.requires_grad)))


def packed_weight(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv``'s weight in oneDNN's layout for inputs like ``x``, packed
    on first use and reused while the weight is unchanged (same tensor,
    same version: ``load_state_dict``, an optimizer step or ``.to()``
    invalidate it; an in-place change through ``weight.data``, which
    bypasses the version counter, is not seen)."""
    weight = conv.weight
    key = (tuple(x.shape), x.is_contiguous(memory_format=torch.channels_last))
    cache = _PACKED.setdefault(conv, {})
    found = cache.get(key)
    if found is not None and found[0] == weight._version and \
            found[1] == weight.data_ptr():
        return found[2]
    packed = _ONEDNN[1](weight, list(conv.padding), list(conv.stride),
                        list(conv.dilation), conv.groups, list(x.shape))
    cache.pop(key, None)
    if len(cache) >= MAX_PACKED_PER_CONV:
        cache.pop(next(iter(cache)))
    cache[key] = (weight._version, weight.data_ptr(), packed)
    return packed


def _onednn_conv(conv: nn.Conv2d, x: torch.Tensor, act: str) -> torch.Tensor:
    return _ONEDNN[0](x, packed_weight(conv, x), conv.bias, conv.padding,
                      conv.stride, conv.dilation, conv.groups, act, [None],
                      '')


def conv2d_act(conv: nn.Conv2d, x: torch.Tensor,
               act: Optional[str] = None) -> torch.Tensor:
    """``conv(x)``, followed by ``act`` (``'relu'`` or None); for CPU
    inference one oneDNN call with the packed weight and the activation as
    its post-op (:func:`onednn_inference`), else the module's own call
    (hooks included) and an in-place ReLU."""
    if act not in (None, 'relu'):
        raise ValueError(f"act must be None or 'relu', but got {act!r}")
    if onednn_inference(conv, x):
        return _onednn_conv(conv, x, act or 'none')
    out = conv(x)
    return torch.relu_(out) if act == 'relu' else out


class PackedConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose CPU inference reuses a oneDNN-packed weight
    (module doc); built by :func:`pack_convolutions`, never by a config.

    Example:
        >>> conv = nn.Conv2d(8, 16, 3, padding=1).eval()
        >>> x = torch.rand(1, 8, 16, 16)
        >>> with torch.no_grad():
        ...     plain = conv(x)
        ...     changed = pack_convolutions(conv)
        ...     packed = conv(x)
        >>> type(conv).__name__, torch.allclose(plain, packed, atol=1e-5)
        ('PackedConv2d', True)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if onednn_inference(self, x):
            return _onednn_conv(self, x, 'none')
        return super().forward(x)


def pack_convolutions(model: nn.Module) -> int:
    """Turn every plain ``nn.Conv2d`` of ``model`` (itself included) into a
    :class:`PackedConv2d`, in place: same parameters, buffers, hooks and
    state-dict keys, only the class changes (subclasses of ``nn.Conv2d``
    such as mmcv's are left alone: their forward is their own). Returns
    how many were changed."""
    changed = 0
    for module in model.modules():
        if type(module) is nn.Conv2d:
            module.__class__ = PackedConv2d
            changed += 1
    return changed


__all__ = ['PackedConv2d', 'conv2d_act', 'onednn_inference',
           'pack_convolutions', 'packed_weight', 'is_tracing']

