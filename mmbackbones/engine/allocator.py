"""The process's CPU memory allocator, set up for training.

A training step allocates and frees the same activations every iteration.
With glibc's defaults every block above its mmap threshold (at most 32 MiB,
ResNet-50's larger activations at batch 8) is a fresh ``mmap`` that the
kernel zero-fills page by page on first touch and unmaps again on free:
per ResNet-50 step at batch 8, 160 px, ~65,000 page faults (256 MiB) in a
plain torchvision script and ~21,000 in our classifier's ``train_step``,
measured here. Two process settings remove that, and change no result
(the same kernels run on the same numbers):

- glibc keeps freed memory for reuse instead of returning it to the kernel
  (``mallopt``: no ``mmap`` for large blocks, ``M_MMAP_MAX`` = 0, and a 2
  GiB trim threshold) -- the same as starting Python with
  ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``;
- PyTorch backs tensors of 2 MiB and more with transparent huge pages
  (``THP_MEM_ALLOC_ENABLE=1``, PyTorch's own switch: page-aligned buffers
  with ``madvise(MADV_HUGEPAGE)``), fewer TLB misses, where the kernel
  allows it (``/sys/kernel/mm/transparent_hugepage/enabled`` not
  ``[never]``).

``tools/train.py`` applies both at start (``--allocator default`` keeps the
process as Python started it); the price is that the process keeps its peak
memory until it exits, which a training process does anyway. Measured with
``tools/analysis/train_speed.py --processes separate`` (docs/benchmarks.md).
The settings are per process, so a library import never makes them: only
the tools' entry points call :func:`tune_allocator`.
"""
import ctypes
import ctypes.util
import os
from typing import Dict, Optional

ALLOCATORS = ('tuned', 'default')

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = 2**31 - 1  # the largest the int parameter takes
_THP_SWITCH = '/sys/kernel/mm/transparent_hugepage/enabled'
_HUGE_PAGE = 2 << 20


def _glibc() -> Optional[ctypes.CDLL]:
    """The process's C library if it is glibc (it has
    ``gnu_get_libc_version``), else None (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        libc.gnu_get_libc_version
        libc.mallopt
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def huge_pages_allowed(switch: str = _THP_SWITCH) -> bool:
    """True where the kernel gives transparent huge pages to a process that
    asks (``always`` or ``madvise`` selected)."""
    try:
        with open(switch, encoding='ascii') as f:
            return '[never]' not in f.read()
    except OSError:
        return False


def tensors_on_huge_pages() -> bool:
    """Whether PyTorch asks the kernel for huge pages for a large CPU tensor
    now: the mapping that holds a new 4 MiB tensor carries the
    ``MADV_HUGEPAGE`` flag (``hg`` in /proc/self/smaps' ``VmFlags``)."""
    import torch
    buffer = torch.empty(2 * _HUGE_PAGE, dtype=torch.uint8)
    address = buffer.data_ptr()
    try:
        with open('/proc/self/smaps', encoding='ascii') as f:
            inside = False
            for line in f:
                head = line.split(' ', 1)[0]
                if '-' in head and ':' not in head:  # a mapping's range
                    start, end = (int(v, 16) for v in head.split('-'))
                    inside = start <= address < end
                elif inside and line.startswith('VmFlags:'):
                    return 'hg' in line.split()[1:]
    except OSError:
        pass
    return False


def tune_allocator(allocator: str = 'tuned') -> Dict[str, bool]:
    """Set this process's allocator up for training (see the module doc).

    Call it at the start of a tool, before the model is built: PyTorch
    reads ``THP_MEM_ALLOC_ENABLE`` at its first large allocation.

    Args:
        allocator: ``'tuned'`` applies the settings, ``'default'`` leaves
            the process as it is.

    Returns:
        ``{'keep_freed_memory': bool, 'huge_pages': bool}``: whether this
        call set glibc's options, and whether a large tensor allocated now
        is on huge pages (whoever asked for them).

    Raises:
        ValueError: ``allocator`` is not one of :data:`ALLOCATORS`.
    """
    if allocator not in ALLOCATORS:
        raise ValueError(f'allocator must be one of {ALLOCATORS}, got '
                         f'{allocator!r}')
    kept = False
    if allocator == 'tuned':
        if huge_pages_allowed():
            os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')
        libc = _glibc()
        if libc is not None:
            kept = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(
                libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return dict(keep_freed_memory=kept, huge_pages=tensors_on_huge_pages())
