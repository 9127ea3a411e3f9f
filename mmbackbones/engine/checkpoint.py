"""Safe checkpoint files: load with ``weights_only=True``, write atomically.

mmengine 0.10.7 checkpoints hold, besides tensors, the message hub's
``HistoryBuffer`` objects and NumPy arrays/scalars. torch >= 2.6 refuses
those under ``weights_only=True`` (its default), so ``--resume`` fails out
of the box. We allowlist exactly those types — found by listing the pickle
globals of a real mmengine checkpoint — and nothing else: a checkpoint that
holds any other object is refused with a message naming its type, and its
code never runs. Nothing here turns ``weights_only`` off.
"""
import os
import pickle
import re
import tempfile
import zipfile
from typing import Any, Callable, Dict, List

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (unsafe, corrupt, mismatched)."""


def _numpy_globals() -> List[Any]:
    """The NumPy callables and classes that pickled arrays/scalars use."""
    try:  # NumPy >= 2 moved the pickling helpers to numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    # Each dtype pickles as its class (numpy.dtypes.Float64DType, ...).
    dtype_classes = [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
        np.uint32, np.uint64, np.float16, np.float32, np.float64, np.str_)]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def _history_buffer_getattr(owner: Any, name: str) -> Any:
    """Stand-in for ``getattr`` while unpickling.

    A ``HistoryBuffer`` pickles its statistics table as
    ``getattr(HistoryBuffer, 'min')`` etc. Allowlisting the real ``getattr``
    would let a crafted file reach any method of any allowed object (say
    ``ndarray.tofile``, which writes files), so only those lookups pass.
    """
    if owner is HistoryBuffer and name in ('min', 'max', 'mean', 'current'):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({getattr(owner, "__name__", type(owner).__name__)}, '
        f'{name!r}) is not allowed')


#: Exactly the non-tensor globals found in mmengine 0.10.7 checkpoints
#: (listed from the pickle of a real Runner checkpoint; see the tests).
SAFE_GLOBALS: List[Any] = [
    HistoryBuffer, *_numpy_globals(),
    (_history_buffer_getattr, 'builtins.getattr'),
]


def allow_mmengine_checkpoints() -> None:
    """Allowlist :data:`SAFE_GLOBALS` for every ``weights_only`` load in this
    process (mmengine's own ``torch.load`` calls included)."""
    torch.serialization.add_safe_globals(SAFE_GLOBALS)


_UNSAFE_TYPE = re.compile(r'GLOBAL ([\w.]+)|(getattr\([^)]*\))')


def load_checkpoint_file(path: str,
                         map_location: Any = 'cpu') -> Dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``.

    Raises:
        CheckpointError: the file is missing, truncated or corrupt, or holds
            an object other than tensors, containers and the allowlisted
            mmengine/NumPy types (the message names the type).
    """
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint not found: {path}')
    allow_mmengine_checkpoints()
    try:
        checkpoint = torch.load(path, map_location=map_location,
                                weights_only=True)
    except pickle.UnpicklingError as err:
        match = _UNSAFE_TYPE.search(str(err))
        if match is None:  # not a refused object: a damaged pickle
            raise CheckpointError(
                f'cannot read checkpoint {path}: the file is truncated or '
                'corrupt (its pickle data is not valid)') from None
        raise CheckpointError(
            f'refusing to load {path}: it holds '
            f'{match.group(1) or match.group(2)}, which is not a tensor or a '
            'type mmengine checkpoints contain; loading it could run '
            'arbitrary code') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f'cannot read checkpoint {path}: the file is truncated or '
            f'corrupt ({type(err).__name__}: {str(err).splitlines()[0]})'
        ) from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{path} holds a {type(checkpoint).__name__}, '
                              'not a checkpoint dict')
    return checkpoint


def atomic_write(path: str, write: Callable[[Any], None]) -> None:
    """Write a file through ``write(file_object)`` atomically: into a
    temporary file in the same folder, flushed and fsynced, then renamed
    over ``path``. A crash leaves the old file or the new one, never half."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'.{os.path.basename(path)}.', suffix='.tmp')
    # mkstemp creates the file 0600; give it the permissions a plain open()
    # would (0666 less the umask), so outputs are not accidentally private.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    # Make the rename itself durable.
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint_file(obj: Any, path: str) -> None:
    """``torch.save`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f))
