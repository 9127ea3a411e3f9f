"""Tensor-level helpers for re-parameterisation (BN folding, kernels).

Every fusion in the project (conv-BN folding, RepVGG branches) goes through
:func:`fold_bn`, so there is one place where the algebra lives.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm


def fold_bn(kernel: torch.Tensor, bias: Optional[torch.Tensor],
            bn: _BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BatchNorm that follows a convolution into it.

    BN(conv(x)) = gamma * (W*x + b - mean) / sqrt(var + eps) + beta
                = (gamma / std) W * x + (beta + (b - mean) * gamma / std)

    Args:
        kernel: Conv weight, (C_out, C_in/groups, kh, kw).
        bias: Conv bias (C_out,) or None.
        bn: The BatchNorm over the C_out channels (running statistics used).

    Returns:
        The folded (kernel, bias).
    """
    if not bn.track_running_stats or bn.running_var is None:
        raise ValueError('fold_bn needs a BatchNorm with running statistics')
    std = (bn.running_var + bn.eps).sqrt()
    gamma = bn.weight if bn.affine else torch.ones_like(std)
    beta = bn.bias if bn.affine else torch.zeros_like(std)
    scale = gamma / std
    if bias is None:
        bias = torch.zeros_like(bn.running_mean)
    folded_kernel = kernel * scale.reshape(-1, *([1] * (kernel.dim() - 1)))
    folded_bias = beta + (bias - bn.running_mean) * scale
    return folded_kernel.detach(), folded_bias.detach()


def pad_kernel(kernel: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad a (…, k, k) kernel to (…, size, size), centred."""
    k = kernel.shape[-1]
    if k > size or (size - k) % 2:
        raise ValueError(f'cannot centre a {k}x{k} kernel in {size}x{size}')
    pad = (size - k) // 2
    return F.pad(kernel, [pad] * 4)
