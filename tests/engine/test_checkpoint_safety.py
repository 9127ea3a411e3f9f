"""Safe loading (weights_only=True with an exact allowlist) and atomic
checkpoint files."""
import io
import os
import pathlib
import re

import numpy as np
import pytest
import torch
from conftest import DEMO_CONFIG, REPO_ROOT, demo_options, run_tool

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


# --- issue 10, item 3: every failure to read a checkpoint is one message --


def test_empty_file_is_one_message(tmp_path):
    path = tmp_path / 'empty.pth'
    path.write_bytes(b'')
    with pytest.raises(CheckpointError, match='empty.pth: the file is empty'):
        load_checkpoint_file(str(path))


def _rewrite_entry(src, dst, entry, data):
    """Copy a torch zip checkpoint, replacing one entry's bytes."""
    import zipfile
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename.split('/', 1)[1] == entry:
                body = data(body)
            zout.writestr(info, body)


@pytest.mark.parametrize('damage', ['truncate', 'bad_opcode', 'bad_utf8'])
def test_damaged_pickle_in_an_intact_zip_is_one_message(tmp_path, damage):
    src = tmp_path / 'ok.pth'
    torch.save({'meta': {'epoch': 1}, 'state_dict': {'w': torch.ones(2)}},
               src)
    edits = {
        'truncate': lambda b: b[:len(b) // 2],
        'bad_opcode': lambda b: b[:2] + b'\xff' + b[3:],
        'bad_utf8': lambda b: b.replace(b'epoch', b'\xff\xfe\xfd\xfc\xfb'),
    }
    dst = tmp_path / 'damaged.pth'
    _rewrite_entry(src, dst, 'data.pkl', edits[damage])
    with pytest.raises(CheckpointError, match='damaged.pth.*corrupt'):
        load_checkpoint_file(str(dst))


class _HugeArray:
    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct
        return (_reconstruct, (np.ndarray, (2**44, ), b'b'))


def test_numpy_reconstruct_of_16_tib_is_refused(tmp_path):
    path = tmp_path / 'huge_array.pth'
    torch.save({'meta': {'x': _HugeArray()}}, path)
    with pytest.raises(CheckpointError,
                       match=r'huge_array.pth: it declares a NumPy array of '
                       r'shape \(17592186044416,\)'):
        load_checkpoint_file(str(path))


# --- issue 10, item 6: a bound on what a checkpoint makes us allocate -----


def _deflate_bomb(path, nbytes):
    """A real torch checkpoint of ``nbytes`` zeros (uint8) whose storage
    entry is deflated (~1000x), written without holding the zeros."""
    import struct
    import zipfile
    small = 2**20 + 1  # a numel packed as BININT, patched to nbytes
    template = io.BytesIO()
    torch.save({'w': torch.zeros(small, dtype=torch.uint8)}, template)
    with zipfile.ZipFile(template) as zin, zipfile.ZipFile(
            path, 'w', zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename.endswith('/data/0'):
                with zout.open(info.filename, 'w', force_zip64=True) as f:
                    chunk = bytes(2**20)
                    for _ in range(nbytes // len(chunk)):
                        f.write(chunk)
                continue
            body = zin.read(info)
            if info.filename.endswith('data.pkl'):
                body = body.replace(b'J' + struct.pack('<i', small),
                                    b'J' + struct.pack('<i', nbytes))
            zout.writestr(info.filename, body)


def test_deflate_bomb_is_refused_before_allocating(tmp_path):
    bomb = tmp_path / 'bomb.pth'
    _deflate_bomb(bomb, 64 * 2**20)
    assert bomb.stat().st_size < 200 * 2**10
    # In a fresh process, so the peak resident size shows the allocation;
    # only the loader module is imported (the package import is slow).
    script = (
        'import importlib.util, resource, sys\n'
        'spec = importlib.util.spec_from_file_location("ckpt", sys.argv[2])\n'
        'ckpt = importlib.util.module_from_spec(spec)\n'
        'spec.loader.exec_module(ckpt)\n'
        'before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n'
        'try:\n'
        '    ckpt.load_checkpoint_file(sys.argv[1])\n'
        'except ckpt.CheckpointError as err:\n'
        '    print(err)\n'
        'grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n'
        'print("grew_mib", grew // 1024)\n')
    loader = os.path.join(REPO_ROOT, 'mmbackbones', 'engine', 'checkpoint.py')
    result = run_tool(['-c', script, str(bomb), loader])
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'decompression bomb' in result.stdout
    assert 'MMBACKBONES_CHECKPOINT_MAX_EXPANSION' in result.stdout
    grew = int(result.stdout.split('grew_mib')[-1])
    assert grew < 32, result.stdout


def test_size_limit_is_overridable(tmp_path, monkeypatch):
    bomb = tmp_path / 'bomb.pth'
    _deflate_bomb(bomb, 16 * 2**20)
    with pytest.raises(CheckpointError, match='limit is 10x'):
        load_checkpoint_file(str(bomb))
    assert load_checkpoint_file(str(bomb), max_expansion=2000)['w'].numel() \
        == 16 * 2**20
    monkeypatch.setenv('MMBACKBONES_CHECKPOINT_MAX_EXPANSION', '2000')
    assert load_checkpoint_file(str(bomb))['w'].numel() == 16 * 2**20
    monkeypatch.setenv('MMBACKBONES_CHECKPOINT_MAX_EXPANSION', 'lots')
    with pytest.raises(CheckpointError,
                       match='MMBACKBONES_CHECKPOINT_MAX_EXPANSION must be'):
        load_checkpoint_file(str(bomb))


def test_legacy_format_storage_bomb_is_refused(tmp_path):
    import struct
    path = tmp_path / 'legacy.pth'
    torch.save({'w': torch.ones(2**10 + 1)}, path,
               _use_new_zipfile_serialization=False)
    assert load_checkpoint_file(str(path))['w'].shape == (2**10 + 1, )
    data = path.read_bytes()
    # The storage's numel (BININT2) -> 2**31 - 1 floats (8 GiB).
    data = data.replace(b'M' + struct.pack('<H', 2**10 + 1),
                        b'J' + struct.pack('<i', 2**31 - 1), 1)
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match='legacy.pth: it declares '
                       '8589934588 bytes'):
        load_checkpoint_file(str(path))


# --- issue 10, item 4: load_from and resume are checked like tools/test.py -


def _demo_checkpoint(path, **model_changes):
    """A checkpoint of the demo classifier, changed by ``model_changes``
    (e.g. ``backbone=dict(widen_factor=0.5)``)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmbackbones.registry import MODELS
    cfg = Config.fromfile(os.path.join(REPO_ROOT, DEMO_CONFIG))
    for part, changes in model_changes.items():
        cfg.model[part].update(changes)
    init_default_scope('mmbackbones')
    model = MODELS.build(cfg.model)
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


def _train(digits_root, work_dir, *options):
    """tools/train.py in this process: (exit code, 'error:' lines)."""
    from mmbackbones.cli import train as train_cli
    args = [os.path.join(REPO_ROOT, DEMO_CONFIG), '--work-dir', str(work_dir),
            '--no-validate',
            *demo_options(digits_root, 1, 'train_dataloader.num_workers=0',
                          'train_dataloader.dataset.data_prefix=val',
                          *options)]
    resume = [a for a in options if a.startswith('--resume')]
    if resume:  # a flag, not a --cfg-options item
        args = [a for a in args if a not in resume] + resume[0].split('=')
    try:
        train_cli.cli(args)
    except SystemExit as exit_:
        return exit_.code
    return 0


def _errors(capsys):
    return [line for line in capsys.readouterr().err.splitlines()
            if re.match(r'(\S+: )?error: ', line)]


def test_load_from_another_architecture_is_refused(digits_root, tmp_path,
                                                   capsys):
    other = _demo_checkpoint(tmp_path / 'half.pth',
                             backbone=dict(widen_factor=0.5))
    assert _train(digits_root, tmp_path / 'w', f'load_from={other}') == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and 'half.pth does not fit the model outside ' \
        "['head.']" in errors[0] and 'shape mismatch' in errors[0]
    assert 'load_from_partial=True' in errors[0]


def test_load_from_with_a_new_head_fine_tunes(digits_root, tmp_path):
    # A 7-class checkpoint into the 10-class demo: only head.* differ.
    seven = _demo_checkpoint(tmp_path / 'seven.pth', head=dict(num_classes=7))
    assert _train(digits_root, tmp_path / 'w', f'load_from={seven}') == 0
    assert (tmp_path / 'w' / 'epoch_1.pth').is_file()


def test_load_from_malicious_file_is_one_message_even_when_forced(
        digits_root, tmp_path, capsys, monkeypatch):
    from mmbackbones.engine import checkpoint
    marker = tmp_path / 'payload_ran'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _RunsCode(str(marker))}, evil)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    monkeypatch.setattr(checkpoint, '_warned_force_unsafe', False)
    with pytest.warns(UserWarning, match='mmbackbones ignores it'):
        code = _train(digits_root, tmp_path / 'w', f'load_from={evil}')
    assert code == 2 and not marker.exists()
    errors = _errors(capsys)
    assert len(errors) == 1 and 'evil.pth: it holds pathlib.Path' in \
        errors[0].replace('refusing to load ', '')


def test_resume_from_weights_only_file_is_refused(digits_root, tmp_path,
                                                  capsys):
    weights = _demo_checkpoint(tmp_path / 'weights.pth')
    assert _train(digits_root, tmp_path / 'w', f'--resume={weights}') == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and 'cannot resume from' in errors[0]
    assert "no 'meta'" in errors[0] and 'load_from=' in errors[0]


@pytest.mark.parametrize('meta', [dict(epoch='abc', iter=6), 'not a dict'])
def test_resume_with_bad_meta_types_is_refused(digits_root, tmp_path,
                                               capsys, runner_checkpoint,
                                               meta):
    checkpoint = load_checkpoint_file(runner_checkpoint)
    checkpoint['meta'] = meta
    bad = tmp_path / 'bad_meta.pth'
    torch.save(checkpoint, bad)
    assert _train(digits_root, tmp_path / 'w', f'--resume={bad}') == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and 'cannot resume from' in errors[0]
    assert 'bad_meta.pth' in errors[0]


def test_partial_prefixes_setting():
    from mmbackbones.engine.fit import (check_state_dict_fits,
                                        partial_prefixes)
    model = torch.nn.Sequential()
    model.add_module('backbone', torch.nn.Linear(2, 2))
    model.add_module('head', torch.nn.Linear(2, 3))
    other_head = {'backbone.weight': torch.ones(2, 2),
                  'backbone.bias': torch.ones(2),
                  'head.weight': torch.ones(5, 2)}
    check_state_dict_fits(other_head, model, 'x', partial_prefixes(None))
    with pytest.raises(CheckpointError, match=r"1 missing \(first: "
                       r"\['head.bias'\]\); 1 shape mismatch"):
        check_state_dict_fits(other_head, model, 'x', partial_prefixes([]))
    check_state_dict_fits({}, model, 'x', partial_prefixes(True))
    with pytest.raises(CheckpointError, match='load_from_partial must be'):
        partial_prefixes('head.')
