"""Hooks that make training survive kills and resume exactly.

* :class:`SafeCheckpointHook` — mmengine's CheckpointHook deletes the
  oldest kept checkpoint *before* saving the new one and writes the
  ``last_checkpoint`` pointer in place. Here the new checkpoint is saved
  first, then the pointer is replaced atomically, and only then is the
  retired checkpoint deleted: a kill at any moment leaves a work dir whose
  ``last_checkpoint`` names a complete file.
  Its best checkpoint is written the same way round: mmengine removes the
  previous ``best_*.pth`` before saving the new one (a kill in between left
  none); here the removal waits until the new best is complete.
* :class:`NonFiniteLossHook` -- stops training at the first NaN / inf loss
  with the iteration number and the last good checkpoint, before a
  "best" checkpoint of a diverged model is written. It reads the loss the
  message hub already holds as a Python float (no extra device sync).
* :class:`ExactResumeHook` — stores the Python, NumPy and torch random
  states in every checkpoint and restores them on resume; with a seed set,
  it also reseeds all three at the start of every epoch from (seed, epoch),
  so the data order and augmentation streams of epoch ``e`` do not depend on
  what ran before it (validation, checkpointing, a restart).
* :func:`seed_worker` — a dataloader ``worker_init_fn`` that seeds NumPy
  and ``random`` in each worker from the seed torch gives that worker (which
  follows the main process's torch RNG, and so the epoch), instead of
  mmengine's default, which gives every epoch the same augmentations.
* :class:`QuietWhenMainStops` — wraps a loader's ``worker_init_fn`` (the
  runner does it for every loader) so that a worker whose main process
  stops in the middle of a transfer prints no traceback of its own.
* :class:`RankConsistencyHook` — checks after each epoch that all ranks
  hold the same weights and buffers (catches silent DDP divergence).
"""
import math
import os
import os.path as osp
import random
import sys
from multiprocessing import queues
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist
from mmengine.dist import get_rank, get_world_size, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import FUNCTIONS

from mmbackbones.registry import HOOKS
from mmbackbones.utils import RunStopped
from .checkpoint import atomic_write


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """CheckpointHook that saves, then points, then retires (module doc)."""

    def _save_checkpoint_with_step(self, runner, step, meta):
        retired: Optional[int] = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                retired = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        text = str(self.last_ckpt).encode()
        atomic_write(osp.join(runner.work_dir, 'last_checkpoint'),
                     lambda f: f.write(text))
        if retired is not None:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(retired))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        # mmengine's removes the previous best, then saves the new one.
        # Run it with removals deferred, and remove only once it returned
        # (the new best, and the checkpoint naming it, are complete).
        backend = self.file_backend
        deferred = _DeferredRemovals(backend)
        self.file_backend = deferred
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        for method, path in deferred.pending:
            if backend.exists(path):
                getattr(backend, method)(path)


class _DeferredRemovals:
    """A file backend whose ``remove`` / ``rmtree`` are recorded, not
    done; everything else is the wrapped backend's."""

    def __init__(self, backend):
        self._backend = backend
        self.pending: List[Tuple[str, str]] = []

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def remove(self, path) -> None:
        self.pending.append(('remove', path))

    def rmtree(self, path) -> None:
        self.pending.append(('rmtree', path))


class NonFiniteLossError(RunStopped, RuntimeError):
    """Training stopped at a NaN / inf loss (the message says where)."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training at the first non-finite loss (module doc).

    Runs after mmengine's ``RuntimeInfoHook`` (priority VERY_HIGH), which
    has turned the iteration's losses into floats in the message hub.
    """

    priority = 'HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        scalars = runner.message_hub.log_scalars
        loss = scalars.get('train/loss')
        if loss is None or math.isfinite(loss.current()):
            return
        parts = {key[len('train/'):]: buffer.current()
                 for key, buffer in scalars.items()
                 if key.startswith('train/loss')}
        detail = ', '.join(f'{k} {v}' for k, v in parts.items())
        last = runner.message_hub.get_info('last_ckpt')
        pointer = (f'the last good checkpoint is {last}' if last else
                   'no checkpoint was saved before it')
        raise NonFiniteLossError(
            f'training stopped: non-finite loss at iteration {runner.iter + 1}'
            f' (epoch {runner.epoch + 1}, batch {batch_idx + 1}): {detail}; '
            f'{pointer}. Check the weights it started from (load_from / '
            'init_cfg) and the data, or lower the learning rate')


def _reseed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Random states in checkpoints, and per-epoch reseeding (module doc)."""

    priority = 'VERY_HIGH'  # reseed before any other hook draws numbers

    def before_train_epoch(self, runner) -> None:
        if runner.seed is not None:
            # A large odd multiplier keeps (seed, epoch) pairs apart.
            _reseed(runner.seed + 1_000_003 * (runner.epoch + 1))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_states'] = dict(
            python=random.getstate(),
            numpy=np.random.get_state(),
            torch=torch.get_rng_state())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        states = checkpoint.get('rng_states')
        if not states:
            return
        random.setstate(_as_python_state(states['python']))
        np.random.set_state(states['numpy'])
        torch.set_rng_state(states['torch'])


def _as_python_state(state):
    """random.getstate() is nested tuples; unpickling may give lists."""
    version, internal, gauss = state
    return version, tuple(internal), gauss


@FUNCTIONS.register_module()
def seed_worker(worker_id: int) -> None:
    """Seed NumPy and ``random`` in a dataloader worker from the seed torch
    gave it (base seed drawn from the main RNG for each epoch's iterator,
    plus the worker id) and the process's rank (``RANK``, set by torchrun).
    """
    rank = int(os.environ.get('RANK', '0'))
    seed = (torch.initial_seed() + 7919 * rank) % 2**32
    np.random.seed(seed)
    random.seed(seed)


# What a worker's threads that talk to the main process raise when it
# stops mid-transfer: its end of the pipe or socket is gone.
_MAIN_GONE = (BrokenPipeError, ConnectionResetError, EOFError)


def quiet_when_main_stops() -> None:
    """In a DataLoader worker, before its first batch: the result queue's
    feeder thread and the file-descriptor server (``resource_sharer``,
    which hands shared tensors to the main process) each print a traceback
    when the main process stops in the middle of a transfer (a broken pipe,
    a reset connection). The main process reports why it stopped; those
    tracebacks say nothing more and come after its last line, so they are
    not printed. Any other error in those threads still is."""
    report_feeder_error = queues.Queue._on_queue_feeder_error

    def on_feeder_error(err, obj):
        if not isinstance(err, _MAIN_GONE):
            report_feeder_error(err, obj)

    # Read when the feeder thread starts, at the worker's first put.
    queues.Queue._on_queue_feeder_error = staticmethod(on_feeder_error)
    report = sys.excepthook

    def excepthook(kind, err, tb):
        # resource_sharer's thread reports through sys.excepthook.
        if not (issubclass(kind, _MAIN_GONE) and tb is not None
                and tb.tb_frame.f_globals.get('__name__')
                == 'multiprocessing.resource_sharer'):
            report(kind, err, tb)

    sys.excepthook = excepthook


class QuietWhenMainStops:
    """A DataLoader ``worker_init_fn``: :func:`quiet_when_main_stops`, then
    the loader's own ``worker_init_fn`` (if any). A class, so that it
    pickles for workers that are spawned.

    Example:
        >>> QuietWhenMainStops(None).init is None
        True
    """

    def __init__(self, init: Optional[Callable[[int], None]]):
        self.init = init

    def __call__(self, worker_id: int) -> None:
        quiet_when_main_stops()
        if self.init is not None:
            self.init(worker_id)


@HOOKS.register_module()
class RankConsistencyHook(Hook):
    """Check after each training epoch that every rank holds the same
    weights and buffers (BN statistics included); raise if they differ.

    Args:
        atol (float): Largest absolute difference accepted.
    """

    priority = 'LOW'  # after buffers are synchronised

    def __init__(self, atol: float = 0.0):
        self.atol = atol

    def after_train_epoch(self, runner) -> None:
        world = get_world_size()
        if world < 2:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        worst = 0.0
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            local = tensor.detach().float().clone()
            reference = local.clone()
            dist.broadcast(reference, src=0)
            diff = (local - reference).abs().max()
            dist.all_reduce(diff, op=dist.ReduceOp.MAX)
            worst = max(worst, diff.item())
            if worst > self.atol:
                raise RuntimeError(
                    f'rank {get_rank()}: {name} differs from rank 0 by '
                    f'{worst:.3g} after epoch {runner.epoch + 1}')
        runner.logger.info(f'weights and buffers identical on all {world} '
                           f'ranks (max abs difference {worst:.3g})')
