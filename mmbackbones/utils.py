"""The small helpers that the tools, the deploy code and the engine share.

One of each, so there is one way to do it:

* :class:`InputError` -- the package's one error type for bad input that a
  tool reports as one line and exit status 2 (``mmbackbones.cli.common``
  calls it ``ToolError``; every library error for bad input subclasses
  it), and :class:`RunStopped` (exit status 3), both
  :class:`ReportedError`;
* :func:`config_file` / :func:`load_config` -- the config of a path or a
  model name (``resnet50``: ``mmbackbones.list_models()``), read with
  ``--cfg-options`` applied only where their keys exist;
* :func:`flatten_tensors` / :func:`count_non_finite` /
  :func:`relative_error` -- compare the (nested) outputs of two models;
* :func:`atomic_write` / :func:`atomic_path` -- write a file so that a crash
  leaves the old one or the new one, never half;
* :class:`Terminated` / :func:`sigterm_as_exception` /
  :func:`raise_if_terminated` -- SIGTERM stops a run the way SIGINT does.

This module imports nothing from the rest of the package when it is
imported (everything else may import it); :func:`config_file` looks model
names up in :mod:`mmbackbones.zoo` when called (the zoo imports only the
standard library).

Example:
    >>> relative_error([torch.ones(2)], (torch.ones(2), ))
    0.0
    >>> [t.shape for t in flatten_tensors({'a': torch.ones(2), 'b': []})]
    [torch.Size([2])]
"""
import math
import os
import os.path as osp
import signal
import tempfile
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional

import torch
from mmengine.config import Config


class ReportedError(Exception):
    """An error that is not a bug: every tool prints its message as one
    line (no traceback) and exits with its :attr:`exit_code` -- the one
    rule of ``mmbackbones.cli.common``. Library code raises a subclass
    without importing the tools."""
    exit_code = 1


class InputError(ReportedError):
    """Bad input (an argument, config, checkpoint, dataset, a work dir in
    use...), refused before anything was written: exit status 2. The
    library's own "your input is bad" errors subclass it
    (``CheckpointError``, ``WorkDirBusy``, ``DatasetError``,
    ``BadSampleError``, ``DeployError``)."""
    exit_code = 2


class RunStopped(ReportedError):
    """A run that started and that a check stopped (a non-finite loss, a
    rank that stopped answering; the message says where and why): exit
    status 3."""
    exit_code = 3


# --------------------------------------------------------------------- #
# Configs
# --------------------------------------------------------------------- #
def first_line(err: BaseException) -> str:
    """The first line of an error's message (its type when empty)."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _check_key_exists(cfg: Config, dotted: str) -> None:
    """Refuse a ``--cfg-options`` key that the config does not have (a typo
    would otherwise add a key nothing reads)."""
    node: Any = cfg
    walked: List[str] = []
    for part in dotted.split('.'):
        if isinstance(node, (list, tuple)) and part.isdigit():
            if int(part) >= len(node):
                raise InputError(
                    f'--cfg-options {dotted}: {".".join(walked)} has '
                    f'{len(node)} items, no index {part}')
            node = node[int(part)]
        elif hasattr(node, 'keys') and part in node.keys():
            node = node[part]
        else:
            where = '.'.join(walked) or 'the config'
            keys = sorted(node.keys()) if hasattr(node, 'keys') else []
            hint = f'; keys there: {keys[:20]}' if keys else ''
            raise InputError(f'--cfg-options {dotted}: {where} has no key '
                             f'{part!r}{hint}')
        walked.append(part)


def config_file(spec: str) -> str:
    """The config file that ``spec`` names: ``spec`` itself when it is a
    file, else the config of the model name ``spec`` (what
    ``mmbackbones.model_config`` gives: ``'resnet50'`` ->
    ``configs/resnet.py``). What every tool's CONFIG argument takes.

    Raises:
        InputError: ``spec`` is not a string, looks like a path (``.py`` or
            a folder in it) but is no file, or is an unknown model name
            (the message lists the closest names).

    Example:
        >>> osp.basename(config_file('resnet50'))
        'resnet.py'
    """
    if not isinstance(spec, str) or not spec:
        raise InputError('the config must be a config file or a model name '
                         f'(mmbackbones.list_models()), got {spec!r}')
    if osp.isfile(spec):
        return spec
    if spec.endswith('.py') or os.sep in spec or '/' in spec:
        raise InputError(f'config file not found: {spec}')
    # Imported here: the zoo reads the package's configs folder.
    from mmbackbones.zoo import model_config
    try:
        return model_config(spec)
    except ValueError as err:  # unknown name: the closest names
        raise InputError(f'{err}; nor is {spec!r} a config file') from None


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config file -- or a model name's (see :func:`config_file`) --
    applying ``cfg_options`` (``--cfg-options``) whose keys all exist.

    Raises:
        InputError: no such file or model name, a config that does not
            parse (syntax error, bad import or base), or an option key it
            lacks.
    """
    path = config_file(path)
    try:
        cfg = Config.fromfile(path)
    except Exception as err:  # syntax errors, bad imports, bad bases
        raise InputError(f'cannot load config {path}: '
                         f'{type(err).__name__}: {first_line(err)}') from None
    if cfg_options:
        for key in cfg_options:
            _check_key_exists(cfg, key)
        cfg.merge_from_dict(cfg_options)
    return cfg


# --------------------------------------------------------------------- #
# Comparing outputs
# --------------------------------------------------------------------- #
def flatten_tensors(outputs: Any) -> List[torch.Tensor]:
    """The tensors of nested tuples / lists / dicts, in order (anything
    else is skipped)."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [t for item in outputs for t in flatten_tensors(item)]
    return []


def count_non_finite(outputs: Any) -> int:
    """How many NaN / inf values the tensors of ``outputs`` hold."""
    return sum(int((~torch.isfinite(t.detach())).sum())
               for t in flatten_tensors(outputs) if t.is_floating_point())


def relative_error(outputs: Any, reference: Any) -> float:
    """Largest ``max|a - b| / max|b|`` over the tensors of two outputs.

    NaN-safe: a NaN or inf in either output makes the error ``inf`` (NaN
    compares False with every tolerance, so ``error > rtol`` would pass it),
    even where both hold the same non-finite value -- a non-finite output
    proves nothing about equivalence.

    Example:
        >>> relative_error(torch.ones(2), torch.ones(2))
        0.0
        >>> relative_error(torch.tensor([1., float('nan')]), torch.ones(2))
        inf

    Raises:
        ValueError: the outputs differ in structure or shape.
    """
    ours, ref = flatten_tensors(outputs), flatten_tensors(reference)
    if len(ours) != len(ref) or not ref:
        raise ValueError(f'outputs differ: {len(ours)} vs {len(ref)} '
                         'tensors')
    worst = 0.0
    for a, b in zip(ours, ref):
        if a.shape != b.shape:
            raise ValueError(f'output shapes differ: {tuple(a.shape)} vs '
                             f'{tuple(b.shape)}')
        a, b = a.detach().double(), b.detach().double()
        if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
            return math.inf
        if a.numel() == 0:
            continue
        scale = b.abs().max().clamp_min(1e-12)
        worst = max(worst, ((a - b).abs().max() / scale).item())
    return worst


# --------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------- #
def fsync_file(path: str) -> None:
    """Flush a written file's data to disk."""
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def fsync_dir(folder: str) -> None:
    """Make a rename inside ``folder`` durable."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` (``.NAME.<random>.tmp``) for code
    that writes a file by name (mmengine's checkpoint saver); after the
    block the file is fsynced and renamed over ``path``. A crash leaves the
    old file or the new one, never half; an error removes the temporary
    file and leaves ``path`` as it was.

    Example:
        >>> with atomic_path('epoch_1.pth') as tmp:
        ...     torch.save({}, tmp)
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'.{os.path.basename(path)}.', suffix='.tmp')
    os.close(fd)
    # mkstemp creates the file 0600; give it the permissions a plain open()
    # would (0666 less the umask), so outputs are not accidentally private.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    fsync_dir(folder)


def atomic_write(path: str, write: Callable[[Any], None]) -> None:
    """Write a file through ``write(file_object)`` atomically (see
    :func:`atomic_path`).

    Example:
        >>> atomic_write('out.txt', lambda f: f.write(b'done'))
    """
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            write(f)


_TERMINATED = ('terminated (SIGTERM): stopped cleanly (no temporary file '
               'left, work dir unlocked)')


#: The SIGTERM being handled while the run unwinds (cleared on leaving
#: :func:`sigterm_as_exception`); :func:`raise_if_terminated` reads it.
_pending: List[int] = []


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM (what schedulers send), so the
    run unwinds like on SIGINT: temporary files removed, locks released.
    A BaseException, like KeyboardInterrupt, so ``except Exception`` in
    library code does not swallow it."""


@contextmanager
def sigterm_as_exception():
    """While inside, SIGTERM raises :class:`Terminated` in the main thread
    (only there can Python install handlers; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def handler(signum, frame):
        if os.getpid() != owner:
            # A process forked inside (a DataLoader worker) inherits the
            # handler: it ends the way SIGTERM ends any process, silently.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        if frame is not None and frame.f_globals.get('__name__') == 'logging':
            # Inside logging's at-fork lock callbacks (a DataLoader worker
            # starting) an exception is printed and ignored, and the run
            # would go on: deliver the signal again a moment later.
            threading.Timer(0.01, os.kill,
                            (os.getpid(), signal.SIGTERM)).start()
            return
        # Ignore further SIGTERMs while unwinding (a scheduler may repeat).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _pending.append(signum)
        raise Terminated(_TERMINATED)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _pending.clear()


def raise_if_terminated() -> None:
    """Raise :class:`Terminated` again if a SIGTERM arrived and the run
    still goes on: library code with a bare ``except:`` swallowed the
    first one (mmengine's MessageHub does, around a deepcopy). The runner
    calls this at every hook point."""
    if _pending:
        raise Terminated(_TERMINATED)
