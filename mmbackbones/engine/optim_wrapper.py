"""bfloat16 autocast training on CPU.

mmengine 0.10.7's ``AmpOptimWrapper`` refuses the CPU. On CPUs with
AVX-512 BF16 / AMX, bfloat16 autocast can train dense convnets faster than
fp32 (ResNet-50, contiguous, 2 threads: x1.5 in our noisy measurement) but
depthwise convolutions are slower in bfloat16 (ShuffleNetV2: x0.6), so
measure per model. bfloat16 has fp32's exponent range: no loss scaling.
"""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from mmbackbones.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """OptimWrapper whose forward runs under CPU autocast (bfloat16).

    Args:
        dtype (str): Autocast dtype, ``'bfloat16'`` (default) or
            ``'float16'``.
        **kwargs: See :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs):
        super().__init__(**kwargs)
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError("dtype must be 'bfloat16' or 'float16', but got "
                             f'{dtype!r}')
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model):
            with torch.autocast('cpu', dtype=self.cast_dtype):
                yield
