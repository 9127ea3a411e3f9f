"""A 1x1 convolution for globally pooled maps, run as a matrix product.

Attention branches (squeeze-and-excitation, split attention) apply 1x1
convolutions to (N, C, 1, 1) vectors. On CPU the convolution path is slow
for them, and very slow in channels_last (measured here, torch 2.14: a
2048 -> 128 -> 2048 SE step at batch 8 costs ~30x more in channels_last
than as a matrix product), which makes channels_last training of
SE-ResNet and ResNeSt slower than contiguous. A (grouped) matrix product
gives the same result at a fraction of the cost in both formats.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['PooledConv1x1']


class PooledConv1x1(nn.Conv2d):
    """``nn.Conv2d(in_channels, out_channels, 1, groups=groups)`` that runs
    (N, C, 1, 1) inputs as a (grouped) matrix product.

    Same parameters, keys (``weight`` of shape (out, in / groups, 1, 1),
    ``bias``) and results as the convolution, so checkpoints of either
    load; inputs larger than 1x1 take the convolution path.

    Example:
        >>> fc = PooledConv1x1(64, 32, groups=2)
        >>> fc(torch.rand(2, 64, 1, 1)).shape
        torch.Size([2, 32, 1, 1])
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int = 1,
                 bias: bool = True):
        super().__init__(in_channels, out_channels, 1, groups=groups,
                         bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.fx.Proxy) or x.shape[-2:] != (1, 1):
            # torch.fx records one graph for every input size: the
            # convolution is right for all of them.
            return super().forward(x)
        n, groups = x.shape[0], self.groups
        if groups == 1:
            out = F.linear(x.reshape(n, -1), self.weight.reshape(
                self.out_channels, -1), self.bias)
        else:
            # (N, g, in/g) x (g, out/g, in/g) -> (N, g, out/g)
            weight = self.weight.reshape(groups, self.out_channels // groups,
                                         -1)
            out = torch.einsum('ngi,goi->ngo', x.reshape(n, groups, -1),
                               weight).reshape(n, -1)
            if self.bias is not None:
                out = out + self.bias
        return out.reshape(n, -1, 1, 1)
