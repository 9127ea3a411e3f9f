"""Issue 10 items 5, 7 and 8 with real Runners, files and processes: the
best checkpoint survives a SIGKILL between writing it and retiring the old
one, temporary files of a killed run are cleaned, nonsense runs stop with
one message, a work dir is locked, SIGTERM stops cleanly, and the config
dump does not write through a planted symlink."""
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import DEMO_CONFIG, REPO_ROOT, demo_options

from mmbackbones.cli import test as test_cli
from mmbackbones.cli import train as train_cli
from mmbackbones.cli.common import EXIT_RUN_STOPPED, EXIT_TERMINATED
from mmbackbones.engine import load_checkpoint_file, save_checkpoint_file
from mmbackbones.engine.runner import LOCK_NAME, lock_work_dir, \
    unlock_work_dir

# Short runs on the small val split, in this process unless a real
# process is the point (those train on conftest's 120-image small_digits).
QUICK = ('train_dataloader.num_workers=0',
         'train_dataloader.dataset.data_prefix=val',
         'val_dataloader.num_workers=0',
         'val_dataloader.persistent_workers=False')

# A training process that SIGKILLs itself at a chosen moment of a save:
#   best: when the 2nd best checkpoint is about to be written (mmengine
#         removed the previous best just before: the old order's hole);
#   tmp:  when epoch_1.pth's temporary file is written, before its rename.
KILLER = '''
import os, signal, sys
from mmengine.evaluator import BaseMetric
import mmbackbones.utils as utils
from mmbackbones.cli import train
from mmbackbones.engine import SafeRunner
from mmbackbones.registry import METRICS, RUNNERS

MODE = os.environ['KILL_AT']


@METRICS.register_module()
class RisingAccuracy(BaseMetric):
    """Better at every validation: each one saves a new best."""
    calls = 0

    def __init__(self, topk=None, **kwargs):
        super().__init__(**kwargs)

    def process(self, data_batch, data_samples):
        self.results.append(1)

    def compute_metrics(self, results):
        RisingAccuracy.calls += 1
        return dict(acc=float(RisingAccuracy.calls))


@RUNNERS.register_module()
class KillingRunner(SafeRunner):
    best_saves = 0

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        if MODE == 'best' and filename.startswith('best_'):
            KillingRunner.best_saves += 1
            if KillingRunner.best_saves == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        super().save_checkpoint(out_dir, filename, *args, **kwargs)


fsync = utils.fsync_file


def fsync_then_die(path):
    # SafeRunner saves through mmbackbones.utils.atomic_path, which fsyncs
    # the temporary file just before renaming it (the config dump goes
    # through it too: only the checkpoint's counts).
    fsync(path)
    if MODE == 'tmp' and os.path.basename(path).startswith('.epoch_1.pth.'):
        os.kill(os.getpid(), signal.SIGKILL)


utils.fsync_file = fsync_then_die
train.main(sys.argv[1:])
'''


def _killed_run(tmp_path, mode, work_dir, digits_root, epochs, *extra):
    script = tmp_path / 'killer.py'
    script.write_text(KILLER)
    cmd = [sys.executable, str(script), DEMO_CONFIG, '--work-dir', work_dir,
           *demo_options(digits_root, epochs, *QUICK,
                         'runner_type=KillingRunner',
                         'val_evaluator.type=RisingAccuracy',
                         'default_hooks.checkpoint.save_best=acc',
                         'default_hooks.checkpoint.interval=1', *extra)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, KILL_AT=mode,
                                                PYTHONWARNINGS='ignore'))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    return sorted(os.listdir(work_dir))


def test_best_checkpoint_survives_a_kill_before_the_new_one(
        small_digits_root, tmp_path):
    work_dir = str(tmp_path / 'best')
    names = _killed_run(tmp_path, 'best', work_dir, small_digits_root, 3)
    best = [n for n in names if n.startswith('best_')]
    # The old order removed best_acc_epoch_1.pth first: nothing was left.
    assert best == ['best_acc_epoch_1.pth'], names
    assert 'state_dict' in load_checkpoint_file(osp.join(work_dir, best[0]))


def test_temp_files_of_a_killed_save_are_cleaned_on_the_next_start(
        small_digits_root, tmp_path):
    work_dir = str(tmp_path / 'tmp')
    names = _killed_run(tmp_path, 'tmp', work_dir, small_digits_root, 1)
    left = [n for n in names if n.endswith('.tmp')]
    assert len(left) == 1 and left[0].startswith('.epoch_1.pth.'), names
    assert 'epoch_1.pth' not in names
    train_cli.main([DEMO_CONFIG, '--work-dir', work_dir, '--no-validate',
                    *demo_options(small_digits_root, 1, *QUICK)])
    names = os.listdir(work_dir)
    assert not [n for n in names if n.endswith('.tmp')], names
    assert 'epoch_1.pth' in names


# --------------------------------------------------------------------- #
# Item 7: nonsense runs are one message
# --------------------------------------------------------------------- #
def _fails(cli, argv, capsys, code=2):
    with pytest.raises(SystemExit) as exit_info:
        cli(argv)
    assert exit_info.value.code == code
    err = capsys.readouterr().err
    ours = err[err.index('error: '):]
    assert 'Traceback' not in ours and len(ours.strip().splitlines()) == 1
    return ours


@pytest.fixture
def nan_checkpoint(runner_checkpoint, tmp_path):
    checkpoint = load_checkpoint_file(runner_checkpoint)
    state = checkpoint['state_dict']
    key = next(k for k in state if k.endswith('conv.weight'))
    state[key].view(-1)[0] = float('nan')
    path = str(tmp_path / 'nan.pth')
    save_checkpoint_file(dict(state_dict=state, meta={}), path)
    return path, key


def test_test_tool_refuses_nan_weights(nan_checkpoint, digits_root,
                                       tmp_path, capsys):
    path, key = nan_checkpoint
    err = _fails(test_cli.cli, [DEMO_CONFIG, path, '--work-dir',
                                str(tmp_path / 't'),
                                *demo_options(digits_root, 1, *QUICK)],
                 capsys)
    assert 'holds NaN/inf in 1 tensor(s)' in err and key in err


def test_training_from_nan_weights_stops_at_the_first_iteration(
        nan_checkpoint, digits_root, tmp_path, capsys):
    path, _ = nan_checkpoint
    work_dir = tmp_path / 'nan_train'
    err = _fails(train_cli.cli, [
        DEMO_CONFIG, '--work-dir', str(work_dir),
        *demo_options(digits_root, 2, *QUICK, f'load_from={path}')
    ], capsys, code=EXIT_RUN_STOPPED)
    assert 'non-finite loss at iteration 1 (epoch 1, batch 1): loss nan' \
        in err
    assert 'no checkpoint was saved before it' in err
    assert not [n for n in os.listdir(work_dir) if n.endswith('.pth')]


def test_divergence_points_at_the_last_good_checkpoint(
        digits_root, tmp_path, capsys):
    """Epoch 1 trains normally and is saved; in epoch 2 the cosine
    schedule climbs towards lr 1e38 and the weights overflow."""
    work_dir = tmp_path / 'diverge'
    err = _fails(train_cli.cli, [
        DEMO_CONFIG, '--work-dir', str(work_dir),
        *demo_options(digits_root, 2, *QUICK,
                      'param_scheduler.1.eta_min=1e38',
                      'default_hooks.checkpoint.interval=1')
    ], capsys, code=EXIT_RUN_STOPPED)
    assert 'non-finite loss at iteration' in err and '(epoch 2, ' in err
    good = osp.join(str(work_dir), 'epoch_1.pth')
    assert f'the last good checkpoint is {good}' in err, err
    assert load_checkpoint_file(good)['meta']['epoch'] == 1
    names = os.listdir(work_dir)
    assert 'epoch_2.pth' not in names


@pytest.mark.parametrize('option,message', [
    ('train_cfg.max_epochs=-1',
     'train_cfg.max_epochs must be a positive int, but got -1'),
    ('train_cfg.max_epochs=abc',
     "train_cfg.max_epochs must be a positive int, but got 'abc'"),
    ('train_dataloader.batch_size=0',
     'train_dataloader.batch_size must be a positive int, but got 0'),
    ('train_dataloader.batch_size=-4',
     'train_dataloader.batch_size must be a positive int, but got -4'),
    ('model=1', "the config's model must be a dict with a 'type'"),
])
def test_bad_run_settings(option, message, digits_root, tmp_path, capsys):
    err = _fails(train_cli.cli, [DEMO_CONFIG, '--work-dir', str(tmp_path),
                                 *demo_options(digits_root, 1, option)],
                 capsys)
    assert message in err


def test_config_without_model(tmp_path, capsys):
    config = tmp_path / 'nomodel.py'
    config.write_text('train_cfg = dict(by_epoch=True, max_epochs=1)\n')
    err = _fails(train_cli.cli, [str(config), '--work-dir',
                                 str(tmp_path / 'w')], capsys)
    assert "model must be a dict with a 'type'" in err and 'None' in err


def _image_folder(digits_root, root, per_class=4):
    """Two classes of real PNGs taken from the digits."""
    for label in ('0', '1'):
        os.makedirs(osp.join(root, label))
        source = osp.join(digits_root, 'val', label)
        for name in sorted(os.listdir(source))[:per_class]:
            shutil.copy(osp.join(source, name), osp.join(root, label, name))
    return root


def _train_on(root, digits_root, tmp_path, *extra):
    return [DEMO_CONFIG, '--work-dir', str(tmp_path / 'w'), '--no-validate',
            *demo_options(digits_root, 1,
                          f'train_dataloader.dataset.data_root={root}',
                          'train_dataloader.dataset.data_prefix=',
                          'train_dataloader.batch_size=2', *extra)]


@pytest.mark.parametrize('kind', ['zero-byte', 'text', 'truncated'])
def test_a_bad_image_is_one_message_naming_it(kind, digits_root, tmp_path,
                                              capsys):
    root = _image_folder(digits_root, str(tmp_path / 'images'))
    bad = osp.join(root, '1', 'zz_bad.png')
    good = osp.join(root, '1', sorted(os.listdir(osp.join(root, '1')))[0])
    with open(bad, 'wb') as f:
        f.write({'zero-byte': b'', 'text': b'not an image\n',
                 'truncated': open(good, 'rb').read()[:60]}[kind])
    # One worker: the error crosses the DataLoader's process boundary.
    err = _fails(train_cli.cli, _train_on(
        root, digits_root, tmp_path, 'train_dataloader.num_workers=1',
        'train_dataloader.sampler.shuffle=False'), capsys)
    assert f'cannot load {bad}' in err
    if kind == 'zero-byte':
        assert 'is empty (0 bytes)' in err


def test_an_empty_class_folder_is_refused(digits_root, tmp_path, capsys):
    root = _image_folder(digits_root, str(tmp_path / 'images'))
    os.makedirs(osp.join(root, '0a_empty'))
    err = _fails(train_cli.cli, _train_on(
        root, digits_root, tmp_path, 'train_dataloader.num_workers=0'),
        capsys)
    assert "class folder(s) '0a_empty'" in err and 'hold no image' in err


def test_val_classes_that_differ_from_train_are_refused(
        digits_root, tmp_path, capsys):
    train = _image_folder(digits_root, str(tmp_path / 'train'))
    val = _image_folder(digits_root, str(tmp_path / 'val'))
    shutil.rmtree(osp.join(val, '0'))  # '1' would become label 0
    err = _fails(train_cli.cli, [
        DEMO_CONFIG, '--work-dir', str(tmp_path / 'w'),
        *demo_options(digits_root, 1, *QUICK,
                      f'train_dataloader.dataset.data_root={train}',
                      'train_dataloader.dataset.data_prefix=',
                      f'val_dataloader.dataset.data_root={val}',
                      'val_dataloader.dataset.data_prefix=')], capsys)
    assert "val_dataloader: its class folders differ" in err
    assert "missing: ['0']" in err


# --------------------------------------------------------------------- #
# Item 8: one run per work dir, SIGTERM, no writes through symlinks
# --------------------------------------------------------------------- #
def _wait_for(condition, proc, seconds=240):
    deadline = time.time() + seconds
    while not condition():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, 'timed out'
        time.sleep(0.05)


def test_second_run_is_refused_then_sigterm_stops_cleanly(
        digits_root, tmp_path, capsys):
    work_dir = str(tmp_path / 'busy')
    # The val split (6 batches an epoch). Wherever the SIGTERM lands --
    # while mmengine formats the config for a checkpoint (it turns any
    # exception there into a SyntaxError), while a worker hands over a
    # batch (its threads used to print a traceback after our last line)
    # -- the run ends with the one line (tests/tools/test_interruptions.py
    # has each case on its own).
    cmd = [sys.executable, 'tools/train.py', DEMO_CONFIG, '--work-dir',
           work_dir, *demo_options(digits_root, 20,
                                   'train_dataloader.dataset.data_prefix=val',
                                   'train_dataloader.num_workers=1',
                                   'default_hooks.checkpoint.interval=1')]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            env=dict(os.environ, PYTHONWARNINGS='ignore'))
    try:
        pointer = osp.join(work_dir, 'last_checkpoint')
        _wait_for(lambda: osp.exists(pointer), proc)
        with open(osp.join(work_dir, LOCK_NAME)) as f:
            assert f.read().startswith(f'pid {proc.pid} ')
        # A second run in the same work dir: refused, naming the first.
        err = _fails(train_cli.cli, [DEMO_CONFIG, '--work-dir', work_dir,
                                     *demo_options(digits_root, 1, *QUICK)],
                     capsys)
        assert f'work dir {work_dir} is in use by another run (pid ' \
            f'{proc.pid} ' in err
        # What a scheduler sends at the end of a job.
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == EXIT_TERMINATED, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == (
        'train.py: terminated (SIGTERM): stopped cleanly (no temporary file '
        'left, work dir unlocked)')
    names = os.listdir(work_dir)
    assert not [n for n in names if n.endswith('.tmp')], names
    with open(pointer) as f:
        assert 'state_dict' in load_checkpoint_file(f.read().strip())
    time.sleep(1)  # the dataloader worker notices its parent is gone
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no process of the run is left
    unlock_work_dir(lock_work_dir(work_dir))  # free


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    work_dir = str(tmp_path / 'stale')
    os.makedirs(work_dir)
    # A forked child (a real process, without a fresh interpreter's
    # imports) takes the lock and is SIGKILLed holding it.
    child = os.fork()
    if child == 0:
        try:
            lock_work_dir(work_dir)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
            os._exit(1)  # not reached
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    with open(osp.join(work_dir, LOCK_NAME)) as f:
        assert f.read().startswith('pid ')  # the dead run's
    path = lock_work_dir(work_dir)
    with open(path) as f:
        assert f.read().startswith(f'pid {os.getpid()} ')
    unlock_work_dir(path)


def test_config_dump_replaces_a_planted_symlink(tmp_path):
    from mmengine.config import Config

    from mmbackbones.engine import SafeRunner
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    target = tmp_path / 'precious.txt'
    target.write_text('do not overwrite me\n')
    link = work_dir / osp.basename(DEMO_CONFIG)
    link.symlink_to(target)
    cfg = Config.fromfile(osp.join(REPO_ROOT, DEMO_CONFIG))
    cfg.work_dir = str(work_dir)
    runner = SafeRunner.from_cfg(cfg)
    runner.release_work_dir()
    assert target.read_text() == 'do not overwrite me\n'
    assert not link.is_symlink()
    assert 'model = dict(' in link.read_text()
    # A symlink planted as the lock file is not followed either.
    shutil.rmtree(work_dir)
    work_dir.mkdir()
    (work_dir / LOCK_NAME).symlink_to(target)
    with pytest.raises(Exception, match='symbolic link there is not '
                       'followed'):
        SafeRunner.from_cfg(cfg)
    assert target.read_text() == 'do not overwrite me\n'
