"""A Runner whose checkpoints are written atomically, in a locked work dir.

mmengine 0.10.7 ``torch.save``s straight onto the final path: a process
killed mid-write leaves a truncated ``epoch_N.pth`` that ``--resume`` then
fails on. :class:`SafeRunner` writes every checkpoint (regular and best)
to a hidden temporary file in the same folder, fsyncs it and renames it
into place (:func:`mmbackbones.utils.atomic_path`, the project's one
atomic-write routine), so a checkpoint path holds a complete file or
nothing.

It also takes an exclusive lock on the work dir (``.mmbackbones.lock``,
``flock``: released by the kernel when the process dies, so a killed run's
lock is simply taken over) before anything is written there: a second run
in the same work dir is refused, naming the process that holds it. With the
lock held, temporary files a killed run left behind are removed, and the
config dump is written to a temporary file renamed over its path, so a
symlink planted there is replaced, never followed.
"""
import copy
import fcntl
import os
import os.path as osp
import re
import socket
import sys
import time
import weakref
from typing import Dict, List

from mmengine.dist import is_main_process
from mmengine.registry import DATASETS
from mmengine.runner import BaseLoop, Runner

from mmbackbones.datasets.checked import (CheckedDataset, check_class_folders,
                                          check_same_classes, class_folders)
from mmbackbones.registry import RUNNERS
from mmbackbones.utils import InputError, atomic_path, raise_if_terminated
from .checkpoint import atomic_write
from .compile import compile_model, compile_options
from .hooks import QuietWhenMainStops
from .memory_format import check_memory_format, to_memory_format

LOCK_NAME = '.mmbackbones.lock'
#: Our temporary files: ``.NAME.<8 random>.tmp`` (``atomic_path``'s
#: mkstemp; older versions of SafeRunner wrote ``.NAME.<32 hex>.tmp``).
_TEMP_FILE = re.compile(r'^\..+\.[A-Za-z0-9_]{8,32}\.tmp$')


class WorkDirBusy(InputError, RuntimeError):
    """Another live process holds the work dir's lock."""


# Locks this process holds: real path of the lock file -> [fd, users].
# One process may build several runners on one work dir in turn (tests,
# notebooks); flock would make it refuse itself.
_HELD: Dict[str, List[int]] = {}


def lock_work_dir(work_dir: str) -> str:
    """Take the work dir's lock (see module doc) and return its path.

    Raises:
        WorkDirBusy: another process holds it; the message names it.
    """
    path = osp.join(osp.realpath(work_dir), LOCK_NAME)
    if path in _HELD:
        _HELD[path][1] += 1
        return path
    # O_NOFOLLOW: a symlink planted as the lock file is not followed.
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        raise WorkDirBusy(f'cannot lock the work dir {work_dir}: {path} '
                          f'({err.strerror}; a symbolic link there is not '
                          'followed: remove it)') from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 4096).decode('utf-8', 'replace').strip()
        os.close(fd)
        holder = holder or 'a process that has not written its name yet'
        raise WorkDirBusy(
            f'work dir {work_dir} is in use by another run ({holder}); wait '
            'for it to end, stop it, or choose another --work-dir') from None
    except BaseException:
        os.close(fd)
        raise
    # The holder's description, for the message of a refused second run.
    command = ' '.join(sys.argv)[:300]
    text = (f'pid {os.getpid()} on {socket.gethostname()}, started '
            f'{time.strftime("%Y-%m-%d %H:%M:%S")}: {command}\n')
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)
    _HELD[path] = [fd, 1]
    return path


def unlock_work_dir(path: str) -> None:
    """Release one use of a lock taken by :func:`lock_work_dir`."""
    held = _HELD.get(path)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _HELD[path]
        os.close(held[0])  # closing the descriptor releases the flock


def _hook_type(hook) -> str:
    kind = hook.get('type') if isinstance(hook, dict) else type(hook)
    return getattr(kind, '__name__', str(kind)).split('.')[-1]


def remove_stale_temp_files(folder: str) -> List[str]:
    """Remove the temporary files of our atomic writes that a killed run
    left in ``folder`` (call it only while holding the folder's lock: a live
    run's temporary file would go too). Returns their names."""
    removed = []
    for name in sorted(os.listdir(folder)):
        path = osp.join(folder, name)
        if _TEMP_FILE.match(name) and osp.isfile(path) and \
                not osp.islink(path):
            os.remove(path)
            removed.append(name)
    return removed


@RUNNERS.register_module()
class SafeRunner(Runner):
    """mmengine's Runner with atomic checkpoint files in a locked work dir
    (see module doc)."""

    _work_dir_lock = None

    def setup_env(self, env_cfg: dict) -> None:
        # Called by Runner.__init__ once the work dir exists and the
        # process group (hence the rank) is set up, before the log folder,
        # the config dump or any checkpoint is written.
        super().setup_env(env_cfg)
        if not is_main_process():
            return
        # Released when train/val/test end, or when the runner is
        # collected (a finalizer runs at most once).
        self._work_dir_lock = weakref.finalize(
            self, unlock_work_dir, lock_work_dir(self.work_dir))
        self._stale_temp_files = remove_stale_temp_files(self.work_dir)

    def release_work_dir(self) -> None:
        """Release the work dir's lock (train/val/test do it when they
        end, however they end)."""
        if self._work_dir_lock is not None:
            self._work_dir_lock()

    def train(self):
        if getattr(self, '_stale_temp_files', None):
            self.logger.warning(
                f'removed {len(self._stale_temp_files)} temporary file(s) '
                f'that an interrupted run left in {self.work_dir}: '
                f'{", ".join(self._stale_temp_files)}')
        try:
            return super().train()
        finally:
            self.release_work_dir()

    def call_hook(self, fn_name: str, **kwargs) -> None:
        # A SIGTERM whose exception library code swallowed stops the run
        # at the next hook point instead of being lost.
        raise_if_terminated()
        super().call_hook(fn_name, **kwargs)

    def val(self):
        try:
            return super().val()
        finally:
            self.release_work_dir()

    def test(self):
        try:
            return super().test()
        finally:
            self.release_work_dir()

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        # Every run stops at a non-finite loss, unless the config already
        # has the hook (a custom priority, say).
        custom_hooks = list(custom_hooks or [])
        if not any(_hook_type(h) == 'NonFiniteLossHook'
                   for h in custom_hooks):
            custom_hooks.append(dict(type='NonFiniteLossHook'))
        # A channels_last run still saves contiguous checkpoints.
        if self.cfg.get('memory_format') == 'channels_last' and not any(
                _hook_type(h) == 'ContiguousCheckpointHook'
                for h in custom_hooks):
            custom_hooks.append(dict(type='ContiguousCheckpointHook'))
        super().register_hooks(default_hooks, custom_hooks)

    def wrap_model(self, model_wrapper_cfg, model):
        """Convert the model to the config's ``memory_format`` (see
        :mod:`mmbackbones.engine.memory_format`) and compile its parts as
        ``compile_model`` says (:mod:`mmbackbones.engine.compile`) before
        it is wrapped, so DDP and the optimizer see the final
        parameters."""
        memory_format = self.cfg.get('memory_format')
        if memory_format is not None:
            to_memory_format(model, check_memory_format(
                memory_format, 'the config key memory_format'))
        options = compile_options(self.cfg.get('compile_model'),
                                  'the config key compile_model')
        if options is not None:
            parts = compile_model(model, options)
            self.logger.info(
                f'compile_model: {", ".join(parts)} compiled in place '
                f'(backend {options.get("backend", "inductor")}); the '
                'first training and validation iterations compile')
        if self.cfg.get('compile'):
            self.logger.warning(
                "the config key compile (mmengine's) compiles the whole "
                'train_step, data preprocessor and Mixup included, which '
                'recompiles every iteration; use compile_model '
                '(tools/train.py --compile) instead')
        return super().wrap_model(model_wrapper_cfg, model)

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        """mmengine's, with the dataset checked (an empty class folder is
        refused) and wrapped so that a sample that cannot be loaded is one
        error naming its file (``mmbackbones.datasets.checked``); workers
        say nothing when the main process stops (QuietWhenMainStops)."""
        if isinstance(dataloader, dict) and isinstance(
                dataloader.get('dataset'), dict):
            dataloader = copy.copy(dataloader)
            dataset = DATASETS.build(dataloader['dataset'])
            if hasattr(dataset, 'full_init'):
                dataset.full_init()
            check_class_folders(dataset, type(dataset).__name__)
            dataloader['dataset'] = CheckedDataset(dataset)
        loader = Runner.build_dataloader(dataloader, seed=seed,
                                         diff_rank_seed=diff_rank_seed)
        if getattr(loader, 'num_workers', 0) and not isinstance(
                loader.worker_init_fn, QuietWhenMainStops):
            loader.worker_init_fn = QuietWhenMainStops(loader.worker_init_fn)
        return loader

    def build_val_loop(self, loop):
        loop = super().build_val_loop(loop)
        train_loop = self._train_loop
        if isinstance(train_loop, BaseLoop) and isinstance(loop, BaseLoop):
            train = class_folders(train_loop.dataloader.dataset)
            val = class_folders(loop.dataloader.dataset)
            if train is not None and val is not None:
                check_same_classes(train, val, 'val_dataloader')
        return loop

    def dump_config(self) -> None:
        """Write the config to the work dir atomically: a temporary file
        renamed over the path replaces a symlink there, never its target
        (mmengine's ``cfg.dump(path)`` writes through it)."""
        if not is_main_process():
            return
        if self.cfg.filename is not None:
            filename = osp.basename(self.cfg.filename)
        else:
            filename = f'{self.timestamp}.py'
        text = self.cfg.dump().encode('utf-8')  # the text, in its format
        atomic_write(osp.join(self.work_dir, filename),
                     lambda f: f.write(text))

    def save_checkpoint(self, out_dir: str, filename: str, *args,
                        **kwargs) -> None:
        # Only the main process writes (mmengine's writer is master-only);
        # remote storage backends replace objects whole anyway.
        if not is_main_process() or not osp.isdir(out_dir):
            return super().save_checkpoint(out_dir, filename, *args,
                                           **kwargs)
        # mmengine's saver writes by name: give it the temporary file's.
        with atomic_path(osp.join(out_dir, filename)) as tmp_path:
            super().save_checkpoint(out_dir, osp.basename(tmp_path), *args,
                                    **kwargs)

    def load_checkpoint(self, filename: str, map_location='cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):
        """mmengine's ``load_checkpoint`` (used by ``load_from`` and
        ``resume``) with the checks of :mod:`mmbackbones.engine.fit`: a
        resume needs a complete training checkpoint that fits exactly; a
        ``load_from`` may differ only under the config's
        ``load_from_partial`` prefixes (default ``head.``). The file itself
        is read by our safe scheme loaders (weights_only, size-bounded)."""
        from mmengine.model import is_model_wrapper
        from mmengine.runner.checkpoint import (_load_checkpoint,
                                                _load_checkpoint_to_model)

        from .fit import (check_resumable, check_state_dict_fits,
                          partial_prefixes)
        resuming = self._resume and not self._has_loaded
        prefixes = () if resuming or strict else partial_prefixes(
            self.cfg.get('load_from_partial'))
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        if resuming:
            check_resumable(checkpoint, filename)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        check_state_dict_fits(checkpoint, model, filename, prefixes,
                              revise_keys)
        checkpoint = _load_checkpoint_to_model(
            model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint
