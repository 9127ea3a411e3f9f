"""Exact resume, SIGKILL then --resume, 2-process gloo training, and the
checkpoint hook's save-then-retire order — each with real processes."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch
from conftest import (DEMO_CONFIG, REPO_ROOT, demo_options, free_port,
                      run_tool)

from mmbackbones.cli import test as test_cli
from mmbackbones.cli import train as train_cli
from mmbackbones.engine import SafeRunner, load_checkpoint_file
from mmbackbones.registry import RUNNERS

#: Train on the demo's small val split: the same code paths, a third of the
#: time.
SMALL = 'train_dataloader.dataset.data_prefix=val'


def _weights(path):
    return load_checkpoint_file(path)['state_dict']


def _max_abs_diff(a, b):
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def test_resume_gives_the_same_weights_as_training_straight(
        small_digits_root, tmp_path):
    """2 epochs straight == 1 epoch, stop, --resume, 1 more (max abs
    difference <= 1e-6), with validation (which draws random numbers) in
    between and a dataloader worker doing the augmentation. Trained on 120
    images (two shuffled batches an epoch: fast). The straight run and the
    first half run side by side; all three are real processes, which is
    what --resume must survive."""
    digits_root = small_digits_root
    straight, split = str(tmp_path / 'straight'), str(tmp_path / 'split')
    args = ['tools/train.py', DEMO_CONFIG]
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(run_tool, [*args, '--work-dir', split,
                                       *demo_options(digits_root, 1)])
        # A real process too: in this process, state left by earlier tests
        # made the straight run differ (203 max abs) in the full suite.
        result = run_tool([*args, '--work-dir', straight,
                           *demo_options(digits_root, 2)])
        assert result.returncode == 0, result.stderr[-3000:]
        result = first.result()
        assert result.returncode == 0, result.stderr[-3000:]
    result = run_tool([*args, '--work-dir', split, '--resume',
                       *demo_options(digits_root, 2)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'Resuming' in result.stdout + result.stderr or \
        'resumed' in (result.stdout + result.stderr).lower()
    diff = _max_abs_diff(_weights(osp.join(straight, 'epoch_2.pth')),
                         _weights(osp.join(split, 'epoch_2.pth')))
    assert diff <= 1e-6, diff


def test_sigkill_after_first_checkpoint_then_resume(digits_root, tmp_path,
                                                   capsys):
    """A real trainer process SIGKILLed once its first checkpoint exists;
    --resume then finishes the run and tools/test.py evaluates it (those
    two in this process: a fresh interpreter costs seconds of imports, and
    the resume's exactness across processes is the test above)."""
    work_dir = str(tmp_path / 'work')
    cmd = [sys.executable, 'tools/train.py', DEMO_CONFIG, '--work-dir',
           work_dir, *demo_options(digits_root, 3, SMALL,
                                   'default_hooks.checkpoint.interval=1')]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    pointer = osp.join(work_dir, 'last_checkpoint')
    deadline = time.time() + 300
    while not osp.exists(pointer) and time.time() < deadline:
        assert proc.poll() is None, 'training ended before its checkpoint'
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its workers
    proc.wait()
    # The workers hold the work dir's lock until they are gone too.
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    assert osp.exists(pointer)
    with open(pointer) as f:
        assert osp.isfile(f.read().strip())  # points at a complete file

    # Killed mid-run: the demo's interval is 5 epochs, which made the first
    # checkpoint the last one (the kill came after training had ended).
    assert not osp.exists(osp.join(work_dir, 'epoch_3.pth'))
    train_cli.main([DEMO_CONFIG, '--work-dir', work_dir, '--resume',
                    *demo_options(digits_root, 3, SMALL,
                                  'default_hooks.checkpoint.interval=1')])
    final = osp.join(work_dir, 'epoch_3.pth')
    capsys.readouterr()
    test_cli.main([DEMO_CONFIG, final, '--work-dir', str(tmp_path / 'test'),
                   *demo_options(digits_root, 3)])
    assert 'accuracy/top1' in capsys.readouterr().out


def test_two_gloo_processes_train_one_model(small_digits_root, tmp_path):
    digits_root = small_digits_root
    work_dir = str(tmp_path / 'dist')
    env = dict(os.environ, PORT=free_port(), PYTHONWARNINGS='ignore')
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', DEMO_CONFIG, '2', '--work-dir',
         work_dir, *demo_options(digits_root, 1,
                                 'train_dataloader.num_workers=0')],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    # RankConsistencyHook compared every weight and buffer (BN statistics
    # averaged by SyncBuffersHook) against rank 0's, on both ranks.
    assert 'identical on all 2 ranks' in log
    assert 'gloo' in log
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))


class _OrderCheckingRunner(SafeRunner):
    """Records, at each save, which checkpoints exist before writing."""
    existing_at_save = []

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        self.existing_at_save.append(
            sorted(n for n in os.listdir(out_dir) if n.startswith('epoch')))
        super().save_checkpoint(out_dir, filename, *args, **kwargs)


RUNNERS.register_module(module=_OrderCheckingRunner, force=True)


def test_checkpoint_hook_retires_only_after_saving(small_digits_root,
                                                   tmp_path):
    work_dir = str(tmp_path / 'keep1')
    _OrderCheckingRunner.existing_at_save = []
    train_cli.main([
        DEMO_CONFIG, '--work-dir', work_dir, '--no-validate',
        *demo_options(small_digits_root, 3, 'train_dataloader.num_workers=0',
                      'default_hooks.checkpoint.interval=1',
                      'default_hooks.checkpoint.max_keep_ckpts=1',
                      'runner_type=_OrderCheckingRunner')
    ])
    # While epoch 2 and 3 were written, the previous one was still there.
    assert _OrderCheckingRunner.existing_at_save == [
        [], ['epoch_1.pth'], ['epoch_2.pth']]
    names = sorted(os.listdir(work_dir))
    assert [n for n in names if n.endswith('.pth')] == ['epoch_3.pth']
    assert not [n for n in names if n.endswith('.tmp')]
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('epoch_3.pth')
    assert torch.isfinite(_weights(osp.join(
        work_dir, 'epoch_3.pth'))['head.fc.weight']).all()
