"""Safe loading (weights_only=True with an exact allowlist) and atomic
checkpoint files."""
import os
import pathlib

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT

from mmbackbones.engine import (SAFE_GLOBALS, CheckpointError,
                                load_checkpoint_file, save_checkpoint_file)


def _global_name(entry):
    if isinstance(entry, tuple):
        return entry[1]
    return f'{entry.__module__}.{entry.__qualname__}'


def test_allowlist_is_exactly_what_a_runner_checkpoint_holds(
        runner_checkpoint):
    registered = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()  # see what torch alone refuses
    try:
        found = set(torch.serialization.get_unsafe_globals_in_checkpoint(
            runner_checkpoint))
    finally:
        torch.serialization.add_safe_globals(registered)
    allowed = {_global_name(g) for g in SAFE_GLOBALS}
    assert found, 'expected mmengine objects in a Runner checkpoint'
    assert found <= allowed, found - allowed
    # Nothing allowlisted beyond what checkpoints hold, except the other
    # NumPy dtype classes a message hub value may have and the name NumPy
    # 1.x pickles _reconstruct under.
    dtype_classes = {n for n in allowed if n.startswith('numpy.dtypes.')}
    assert allowed - dtype_classes <= found | {
        'numpy.dtype', 'numpy.core.multiarray._reconstruct'}
    checkpoint = load_checkpoint_file(runner_checkpoint)
    assert {'meta', 'state_dict', 'message_hub', 'optimizer'} <= set(
        checkpoint)
    # mmengine's own loader (used by --resume and load_from) is
    # weights_only=True by default and now accepts it as well.
    from mmengine.runner.checkpoint import _load_checkpoint
    assert 'state_dict' in _load_checkpoint(runner_checkpoint)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker), ))


class _GetattrEscape:
    def __reduce__(self):
        return (getattr, (np.zeros(2), 'tofile'))


def test_refuses_pickled_code_and_names_the_type(tmp_path):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _RunsCode(str(marker))}, path)
    with pytest.raises(CheckpointError, match='holds pathlib.Path'):
        load_checkpoint_file(str(path))
    assert not marker.exists()
    # mmengine's loader (every scheme) goes through our safe loader.
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(CheckpointError, match='holds pathlib.Path'):
        _load_checkpoint(str(path))
    assert not marker.exists()


def test_getattr_stand_in_only_resolves_history_buffer_statistics(tmp_path):
    path = tmp_path / 'escape.pth'
    torch.save({'x': _GetattrEscape()}, path)
    with pytest.raises(CheckpointError, match=r"getattr\(ndarray, 'tofile'"):
        load_checkpoint_file(str(path))


def test_truncated_and_missing_files_are_clear_errors(runner_checkpoint,
                                                      tmp_path):
    data = pathlib.Path(runner_checkpoint).read_bytes()
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        load_checkpoint_file(str(cut))
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint at all')
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        load_checkpoint_file(str(garbage))
    with pytest.raises(CheckpointError, match='not found'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))


def test_atomic_save_leaves_old_file_when_writing_fails(tmp_path):
    path = tmp_path / 'weights.pth'
    save_checkpoint_file({'a': torch.ones(3)}, str(path))

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError('disk full, say')

    with pytest.raises(RuntimeError):
        save_checkpoint_file({'a': Unpicklable()}, str(path))
    assert torch.equal(load_checkpoint_file(str(path))['a'], torch.ones(3))
    assert os.listdir(tmp_path) == ['weights.pth']  # no temporary left


def test_no_code_path_loads_with_weights_only_false():
    offenders = []
    for folder in ('mmbackbones', 'tools'):
        for path in pathlib.Path(REPO_ROOT, folder).rglob('*.py'):
            text = path.read_text()
            if 'weights_only=False' in text.replace(' ', '') or \
                    'pickle.load(' in text:
                offenders.append(str(path))
    assert not offenders


def test_written_files_get_ordinary_permissions(tmp_path):
    path = tmp_path / 'out.pth'
    save_checkpoint_file({'a': torch.ones(1)}, str(path))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
