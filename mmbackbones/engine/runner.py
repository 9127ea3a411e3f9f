"""A Runner whose checkpoints are written atomically.

mmengine 0.10.7 ``torch.save``s straight onto the final path: a process
killed mid-write leaves a truncated ``epoch_N.pth`` that ``--resume`` then
fails on. :class:`SafeRunner` writes every checkpoint (regular and best)
to a hidden temporary file in the same folder, fsyncs it and renames it
into place, so a checkpoint path holds a complete file or nothing.
"""
import os
import os.path as osp
import uuid

from mmengine.dist import is_main_process
from mmengine.runner import Runner

from mmbackbones.registry import RUNNERS


def _fsync_file(path: str) -> None:
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@RUNNERS.register_module()
class SafeRunner(Runner):
    """mmengine's Runner with atomic checkpoint files (see module doc)."""

    def save_checkpoint(self, out_dir: str, filename: str, *args,
                        **kwargs) -> None:
        # Only the main process writes (mmengine's writer is master-only);
        # remote storage backends replace objects whole anyway.
        if not is_main_process() or not osp.isdir(out_dir):
            return super().save_checkpoint(out_dir, filename, *args,
                                           **kwargs)
        tmp_name = f'.{filename}.{uuid.uuid4().hex}.tmp'
        tmp_path = osp.join(out_dir, tmp_name)
        try:
            super().save_checkpoint(out_dir, tmp_name, *args, **kwargs)
            _fsync_file(tmp_path)
            os.replace(tmp_path, osp.join(out_dir, filename))
            _fsync_dir(out_dir)
        finally:
            if osp.exists(tmp_path):
                os.remove(tmp_path)

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
