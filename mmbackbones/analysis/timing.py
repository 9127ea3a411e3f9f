"""Side-by-side timing: one routine for every speed tool.

Machine noise (other jobs, frequency scaling, thermal drift) is larger than
most differences worth measuring on a shared CPU. So the things compared
run in ONE process, after a warm-up, interleaved: round-robin, the order
reversed every round (A B C, C B A, ...) so no step always follows the same
neighbour. What is reported is the ratio of median step times (and of the
fastest steps, the least disturbed on a busy machine).

Example::

    >>> import torch
    >>> x = torch.rand(64, 64)
    >>> runs = time_interleaved({'a': lambda: x @ x, 'b': lambda: x + x},
    ...                         warmup=1, rounds=3)
    >>> sorted(runs), len(runs['a'].times)
    (['a', 'b'], 3)
    >>> compare(runs['a'], runs['b'])['ratio'] > 0
    True

Used by tools/analysis/benchmark.py, deploy_speed.py, train_speed.py,
tools/deploy.py and tools/gen_model_zoo.py.
"""
import copy
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Sequence

import torch
import torch.nn as nn

from mmbackbones.utils import flatten_tensors


@dataclass
class Timed:
    """One thing to time: a label, a step to call, and its step times.

    Args:
        label: A neutral name (``'a'``, ``'b'``, or the caller's).
        step: Runs one step; it must synchronise (e.g. CUDA) itself.
        times: Seconds per timed step, filled by :func:`run_interleaved`.
        info: Anything the caller wants carried along (memory format...).
    """
    label: str
    step: Callable[[], Any]
    times: List[float] = field(default_factory=list)
    info: Dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        """Median step time in seconds."""
        return statistics.median(self.times)

    @property
    def fastest(self) -> float:
        """Fastest step time in seconds."""
        return min(self.times)

    def per_second(self, items: int) -> float:
        """Throughput: ``items`` per step over the median step time."""
        return items / self.median


def run_interleaved(runs: Iterable[Timed], warmup: int, rounds: int) -> None:
    """Warm every run up (``warmup`` untimed steps each), then time
    ``rounds`` steps of each, round-robin, reversing the order each round.

    Raises:
        ValueError: ``warmup`` < 0 or ``rounds`` < 1.
    """
    if warmup < 0:
        raise ValueError(f'warmup must be >= 0, got {warmup}')
    if rounds < 1:
        raise ValueError(f'rounds must be >= 1, got {rounds}')
    order = list(runs)
    for run in order:
        for _ in range(warmup):
            run.step()
    for _ in range(rounds):
        for run in order:
            start = time.perf_counter()
            run.step()
            run.times.append(time.perf_counter() - start)
        order.reverse()


def time_interleaved(steps: Mapping[str, Callable[[], Any]], warmup: int,
                     rounds: int) -> Dict[str, Timed]:
    """:func:`run_interleaved` over ``{label: step}``; returns
    ``{label: Timed}`` in the same order."""
    runs = {label: Timed(label, step) for label, step in steps.items()}
    run_interleaved(runs.values(), warmup, rounds)
    return runs


def compare(a: Timed, b: Timed) -> Dict[str, float]:
    """``a`` against ``b``: ``ratio`` = median(a) / median(b) and
    ``fastest_ratio`` = fastest(a) / fastest(b) (below 1: ``a`` is
    faster), ``speedup`` = 1 / ratio (above 1: ``a`` is faster)."""
    ratio = a.median / b.median
    return dict(ratio=ratio, fastest_ratio=a.fastest / b.fastest,
                speedup=1 / ratio)


def geomean(values: Iterable[float]) -> float:
    """Geometric mean (the mean of ratios that does not favour either
    side)."""
    values = list(values)
    if not values or any(v <= 0 for v in values):
        raise ValueError(f'geomean needs positive values, got {values}')
    return statistics.geometric_mean(values)


def make_step(model: nn.Module, x: torch.Tensor, mode: str,
              sync: Callable[[], None]) -> Callable[[], None]:
    """One training step (forward + backward of the summed features, train
    mode) or one inference step (eval mode, no autograd)."""
    if mode == 'train':
        model.train()  # mmpretrain's train() returns None: no chaining

        def step():
            for p in model.parameters():
                p.grad = None
            outs = flatten_tensors(model(x))
            sum(o.float().sum() for o in outs).backward()
            sync()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
            sync()

    return step


def make_runners(models: Dict[str, nn.Module], x: torch.Tensor, mode: str,
                 formats: Sequence[str], device: torch.device,
                 sync: Callable[[], None]) -> List[Timed]:
    """One :class:`~mmbackbones.analysis.timing.Timed` per model and
    memory format (``info['memory_format']``)."""
    runners = []
    for label, model in models.items():
        for i, fmt in enumerate(formats):
            memory_format = getattr(torch, fmt)
            # A copy per format: converting back and forth between steps
            # would be timed too.
            m = model if i == len(formats) - 1 else copy.deepcopy(model)
            m = m.to(device, memory_format=memory_format)
            inp = x.to(device).contiguous(memory_format=memory_format)
            runners.append(
                Timed(label, make_step(m, inp, mode, sync),
                      info=dict(memory_format=fmt)))
    return runners
