"""Safe checkpoint files: load with ``weights_only=True``, write atomically.

mmengine 0.10.7 checkpoints hold, besides tensors, the message hub's
``HistoryBuffer`` objects and NumPy arrays/scalars. torch >= 2.6 refuses
those under ``weights_only=True`` (its default), so ``--resume`` fails out
of the box. We allowlist exactly those types — found by listing the pickle
globals of a real mmengine checkpoint — and nothing else: a checkpoint that
holds any other object is refused with a message naming its type, and its
code never runs. Nothing here turns ``weights_only`` off.
"""
import io
import os
import pickle
import re
import sys
import threading
import warnings
import zipfile
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from mmbackbones.utils import InputError


class CheckpointError(InputError, ValueError):
    """A checkpoint file that cannot be used (unsafe, corrupt, mismatched)."""


try:  # NumPy >= 2 moved the pickling helpers to numpy._core
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct, scalar


def _numpy_globals() -> List[Any]:
    """The NumPy classes that pickled arrays/scalars use (``_reconstruct``
    is allowlisted as :func:`_bounded_reconstruct`)."""
    # Each dtype pickles as its class (numpy.dtypes.Float64DType, ...).
    dtype_classes = [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
        np.uint32, np.uint64, np.float16, np.float32, np.float64, np.str_)]
    return [scalar, np.ndarray, np.dtype, *dtype_classes]


# torch re-raises errors from unpickling with its own text around them, so
# a size refusal is recognised by this marker in the message.
_TOO_LARGE = 'over the size budget:'
_TOO_LARGE_RE = re.compile(re.escape(_TOO_LARGE) + r' (.*? bytes\))')


# The byte budget of the load in progress, read by the NumPy stand-in
# below while torch unpickles (one load runs in one thread).
_budget = threading.local()


def _bounded_reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
    """Stand-in for NumPy's ``_reconstruct``, which allocates
    ``prod(shape)`` items before any data is read: refuse a declared size
    over the load's budget. (NumPy pickles arrays as shape ``(0,)`` here and
    then sets the real shape from bytes that are in the file.)"""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(
            f'numpy _reconstruct of {subtype!r} is not allowed')
    dims = (shape, ) if isinstance(shape, int) else tuple(shape)
    if not all(isinstance(d, int) and d >= 0 for d in dims):
        raise pickle.UnpicklingError(f'bad NumPy array shape {shape!r}')
    nbytes = int(np.prod(dims, dtype=object)) * np.dtype(dtype).itemsize
    if nbytes > getattr(_budget, 'bytes', 0):
        raise pickle.UnpicklingError(
            f'{_TOO_LARGE} a NumPy array of shape {dims} ({nbytes} bytes)')
    return _reconstruct(subtype, shape, dtype)


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
    # NumPy 2 and 1.x pickle it under these two names.
    (_bounded_reconstruct, 'numpy._core.multiarray._reconstruct'),
    (_bounded_reconstruct, 'numpy.core.multiarray._reconstruct'),
]


def allow_mmengine_checkpoints() -> None:
    """Allowlist :data:`SAFE_GLOBALS` for every ``weights_only`` load in this
    process (mmengine's own ``torch.load`` calls included)."""
    torch.serialization.add_safe_globals(SAFE_GLOBALS)


_UNSAFE_TYPE = re.compile(r'GLOBAL ([\w.]+)|(getattr\([^)]*\))')

#: Environment variable: how many times its own size a checkpoint may
#: expand to when loaded (see :func:`check_declared_sizes`).
MAX_EXPANSION_ENV = 'MMBACKBONES_CHECKPOINT_MAX_EXPANSION'
#: torch.save stores tensor data uncompressed, so a real checkpoint declares
#: about 1x its file size; 10x leaves room for archives re-packed with
#: deflate, while a deflate bomb declares ~1000x.
DEFAULT_MAX_EXPANSION = 10.0
_FORCE_UNSAFE_ENV = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'


def max_expansion() -> float:
    """The expansion limit: ``$MMBACKBONES_CHECKPOINT_MAX_EXPANSION`` or
    :data:`DEFAULT_MAX_EXPANSION`."""
    value = os.environ.get(MAX_EXPANSION_ENV, '')
    if not value:
        return DEFAULT_MAX_EXPANSION
    try:
        limit = float(value)
    except ValueError:
        limit = float('nan')
    if not limit > 0 or limit == float('inf'):
        raise CheckpointError(f'{MAX_EXPANSION_ENV} must be a positive '
                              f'number (e.g. 100), got {value!r}')
    return limit


class _Stub:
    """What every global becomes while :func:`_legacy_storage_bytes` scans
    a pickle: calling, building or filling it does nothing, so no code of
    the file runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> '_Stub':
        return _Stub()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


#: Element sizes of the legacy typed storages (torch.FloatStorage, ...).
_STORAGE_ITEMSIZE = {
    'DoubleStorage': 8, 'FloatStorage': 4, 'HalfStorage': 2,
    'BFloat16Storage': 2, 'LongStorage': 8, 'IntStorage': 4,
    'ShortStorage': 2, 'CharStorage': 1, 'ByteStorage': 1, 'BoolStorage': 1,
    'ComplexFloatStorage': 8, 'ComplexDoubleStorage': 16,
}


class _ScanUnpickler(pickle.Unpickler):
    """Reads a legacy torch pickle with every global stubbed, recording the
    storages it declares (``('storage', type, key, location, numel, ...)``)."""

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self.storage_bytes = 0

    def find_class(self, module: str, name: str) -> Any:
        return type(name, (_Stub, ), {'qualname': f'{module}.{name}'})

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == 'storage':
            numel = pid[4]
            if not isinstance(numel, int) or numel < 0:
                raise pickle.UnpicklingError(f'bad storage size {numel!r}')
            kind = getattr(pid[1], 'qualname', '').rsplit('.', 1)[-1]
            # Unknown kinds count as the widest element (complex128).
            self.storage_bytes += numel * _STORAGE_ITEMSIZE.get(kind, 16)
        return _Stub()


def _legacy_storage_bytes(f: Any) -> int:
    """Bytes of storage a pre-1.6 (non-zip) torch file declares: five
    pickles (magic, protocol, sys info, the object, storage keys), the
    object's storages declared in the fourth, then raw data."""
    scanner = None
    for _ in range(4):
        scanner = _ScanUnpickler(f)
        scanner.load()
    return scanner.storage_bytes


def check_declared_sizes(f: Any, size: int, name: str,
                         limit: Optional[float] = None) -> int:
    """Refuse a checkpoint that declares more data than ``limit`` times its
    own ``size`` — before anything of that size is allocated.

    The declared sizes are the zip entries' uncompressed sizes (torch >= 1.6
    format; torch itself checks each tensor against its entry) or, for the
    legacy format, the storage sizes its pickle declares. The limit is
    ``limit``, else :func:`max_expansion`. Returns the byte budget for the
    rest of the load (NumPy arrays are checked against it while unpickling).

    Raises:
        CheckpointError: over the limit (the message says how to raise it).
    """
    limit = max_expansion() if limit is None else limit
    budget = int(size * limit)
    f.seek(0)
    if zipfile.is_zipfile(f):
        f.seek(0)
        with zipfile.ZipFile(f) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    else:
        f.seek(0)
        declared = _legacy_storage_bytes(f)
    f.seek(0)
    if declared > budget:
        raise CheckpointError(
            f'refusing to load {name}: it declares {declared} bytes of data '
            f'in a {size}-byte file ({declared / max(size, 1):.0f}x; the '
            f'limit is {limit:g}x). A real checkpoint stores its tensors '
            'uncompressed; this looks like a decompression bomb. If you '
            f'trust the file, raise the limit: {MAX_EXPANSION_ENV}=N')
    return budget


_warned_force_unsafe = False


def _force_unsafe_note() -> str:
    """Say, once loudly and then in each refusal, that torch's
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` does not apply to our loads."""
    global _warned_force_unsafe
    if os.environ.get(_FORCE_UNSAFE_ENV, '0').lower() not in (
            '1', 'y', 'yes', 'true'):
        return ''
    note = (f'{_FORCE_UNSAFE_ENV} is set, but mmbackbones ignores it: every '
            'checkpoint it reads (--resume, load_from, init_cfg, all URL '
            'schemes, the tools) stays weights_only=True. Other torch.load '
            'calls in this process that do not pass weights_only WILL run '
            'any code in the files they read.')
    if not _warned_force_unsafe:
        _warned_force_unsafe = True
        warnings.warn(note, UserWarning, stacklevel=3)
        print(f'WARNING: {note}', file=sys.stderr)
    return ' (' + note + ')'


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f'{type(err).__name__}: {text.splitlines()[0]}' if text else \
        type(err).__name__


def load_checkpoint_file(path: Any,
                         map_location: Any = 'cpu',
                         max_expansion: Optional[float] = None,
                         name: Optional[str] = None) -> Dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``, bounded in size.

    Args:
        path: A file path, or the checkpoint's bytes (then give ``name``).
        map_location: As for ``torch.load``.
        max_expansion: The size limit (see :func:`check_declared_sizes`);
            default ``$MMBACKBONES_CHECKPOINT_MAX_EXPANSION`` or 10.
        name: What to call the checkpoint in messages (default ``path``).

    Returns:
        The checkpoint dict.

    Raises:
        CheckpointError: the file is missing, empty, truncated or corrupt,
            declares more data than the limit, or holds an object other
            than tensors, containers and the allowlisted mmengine/NumPy
            types (the message names the type). Nothing else escapes.

    Example:
        >>> torch.save({'w': torch.ones(2)}, '/tmp/w.pth')
        >>> load_checkpoint_file('/tmp/w.pth')['w'].shape
        torch.Size([2])
    """
    note = _force_unsafe_note()
    if isinstance(path, (bytes, bytearray)):
        name, opened, size = name or '<checkpoint bytes>', io.BytesIO(path), \
            len(path)
    else:
        name = name or str(path)
        if not os.path.isfile(path):
            raise CheckpointError(f'checkpoint not found: {name}')
        try:
            opened = open(path, 'rb')
            size = os.fstat(opened.fileno()).st_size
        except OSError as err:
            raise CheckpointError(
                f'cannot read checkpoint {name}: {_first_line(err)}') from None
    with opened as f:
        if size == 0:
            raise CheckpointError(f'cannot read checkpoint {name}: the file '
                                  'is empty (0 bytes)')
        try:
            _budget.bytes = check_declared_sizes(f, size, name,
                                                 max_expansion)
        except CheckpointError:
            raise
        except Exception as err:  # a damaged zip directory or old pickle
            raise CheckpointError(
                f'cannot read checkpoint {name}: the file is truncated or '
                f'corrupt ({_first_line(err)})') from None
        allow_mmengine_checkpoints()
        try:
            checkpoint = torch.load(f, map_location=map_location,
                                    weights_only=True)
        except pickle.UnpicklingError as err:
            too_large = _TOO_LARGE_RE.search(str(err))
            if too_large is not None:
                raise CheckpointError(
                    f'refusing to load {name}: it declares '
                    f'{too_large.group(1)} in a {size}-byte file, over the '
                    f'{_budget.bytes}-byte limit; if you trust the file, '
                    f'raise {MAX_EXPANSION_ENV}') from None
            match = _UNSAFE_TYPE.search(str(err))
            if match is None:  # not a refused object: a damaged pickle
                raise CheckpointError(
                    f'cannot read checkpoint {name}: the file is truncated '
                    'or corrupt (its pickle data is not valid)') from None
            raise CheckpointError(
                f'refusing to load {name}: it holds '
                f'{match.group(1) or match.group(2)}, which is not a tensor '
                'or a type mmengine checkpoints contain; loading it could '
                f'run arbitrary code{note}') from None
        except Exception as err:  # anything a damaged file can raise
            raise CheckpointError(
                f'cannot read checkpoint {name}: the file is truncated or '
                f'corrupt ({_first_line(err)})') from None
        finally:
            _budget.bytes = 0
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{name} holds a {type(checkpoint).__name__}, '
                              'not a checkpoint dict')
    return checkpoint


# The one atomic-write routine (temporary file, fsync, rename).
from mmbackbones.utils import atomic_write  # noqa: E402


def save_checkpoint_file(obj: Any, path: str) -> None:
    """``torch.save`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f))
