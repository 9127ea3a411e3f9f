"""Shared pytest set-up: small thread count and quiet mmengine logs."""
import logging
import os
import sys

# With 2 cores shared by a test, its tool subprocesses and dataloader
# workers, OpenMP's spin-waiting makes small ops 10-15x slower; sleep
# instead. Set before torch is imported (subprocesses inherit it).
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
# Under pytest-xdist each worker has one core: the tools it starts in
# subprocesses get one thread too (two 2-thread trainers on 2 cores wait on
# each other's threads; tests/engine ran 120 -> 112 s).
if os.environ.get('PYTEST_XDIST_WORKER'):
    os.environ.setdefault('OMP_NUM_THREADS', '1')

import pytest  # noqa: E402
import torch  # noqa: E402

# Make tests/backbone_checks.py importable from every test sub-folder.
sys.path.insert(0, os.path.dirname(__file__))

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _deterministic_seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _no_closed_log_streams():
    # An mmengine logger (a Runner's, mmengine's current instance) writes
    # to the sys.stdout of the moment it was created: inside a test with
    # capsys, a capture stream that pytest closes when that test ends. A
    # later test's log record then prints a "--- Logging error ---"
    # traceback into its own stderr (seen once in a clean clone, in a test
    # that asserts no traceback). Point such handlers at today's stdout.
    from mmengine.logging import MMLogger
    for logger in list(MMLogger._instance_dict.values()):
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler and getattr(
                    handler.stream, 'closed', False):
                handler.stream = sys.stdout  # (setStream flushes the old)
    yield


def pytest_configure(config):
    # Under pytest-xdist (``-n 2``) each worker gets one of the 2 cores.
    threads = 1 if os.environ.get('PYTEST_XDIST_WORKER') else 2
    torch.set_num_threads(min(threads, torch.get_num_threads()))
    logging.getLogger('mmengine').setLevel(logging.WARNING)


def make_tiny_imagenet(root: str, images_per_split: int = 2,
                       size: int = 40) -> str:
    """An ImageNet-layout folder (flat train/ and val/ plus meta/*.txt
    lists, mmpretrain's second layout) with a few random JPEGs."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, 'meta'), exist_ok=True)
    for split in ('train', 'val'):
        os.makedirs(os.path.join(root, split), exist_ok=True)
        lines = []
        for i in range(images_per_split):
            name = f'{split}_{i}.JPEG'
            pixels = rng.integers(0, 255, (size, size + 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(root, split, name))
            lines.append(f'{name} {i % 1000}\n')
        with open(os.path.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.writelines(lines)
    return root


@pytest.fixture(scope='session')
def tiny_imagenet(tmp_path_factory):
    return make_tiny_imagenet(str(tmp_path_factory.mktemp('imagenet')))


def run_tool(args, cwd=None, timeout=600, env=None):
    """Run a command-line tool of this repo in a fresh Python process."""
    import subprocess
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', **(env or {}))
    return subprocess.run([sys.executable, *args], cwd=cwd or REPO_ROOT,
                          env=full_env, capture_output=True, text=True,
                          timeout=timeout)


DEMO_CONFIG = 'configs/demo/shufflenet_v2_digits.py'


@pytest.fixture(scope='session')
def digits_root(tmp_path_factory):
    from mmbackbones.datasets import prepare_digits
    return prepare_digits(str(tmp_path_factory.mktemp('data') / 'digits'))


def demo_options(digits_root, epochs, *extra):
    """--cfg-options for a short, deterministic demo run on ``digits_root``:
    warm-up 1 epoch, cosine to ``epochs``, validation every epoch."""
    return [
        '--cfg-options', f'data_root={digits_root}',
        f'prepare_data.data_root={digits_root}',
        f'train_dataloader.dataset.data_root={digits_root}',
        f'val_dataloader.dataset.data_root={digits_root}',
        f'test_dataloader.dataset.data_root={digits_root}',
        'randomness.seed=3', 'randomness.deterministic=True',
        'train_cfg.val_interval=1', f'train_cfg.max_epochs={epochs}',
        'param_scheduler.0.end=1', 'param_scheduler.1.begin=1',
        f'param_scheduler.1.end={max(epochs, 2)}', *extra
    ]


@pytest.fixture(scope='session')
def runner_checkpoint(tmp_path_factory):
    """A real checkpoint written by mmengine's Runner (SafeRunner) through
    tools/train.py: the demo, one epoch on the (small) val split."""
    from mmbackbones.cli import train as train_cli
    from mmbackbones.datasets import prepare_digits
    root = prepare_digits(str(tmp_path_factory.mktemp('data') / 'digits'))
    work_dir = str(tmp_path_factory.mktemp('runner_work'))
    train_cli.main([
        DEMO_CONFIG, '--work-dir', work_dir, '--no-validate',
        *demo_options(root, 1, 'train_dataloader.num_workers=0',
                      'train_dataloader.dataset.data_prefix=val')
    ])
    return os.path.join(work_dir, 'epoch_1.pth')


@pytest.fixture(scope='session')
def demo_run(tmp_path_factory, digits_root):
    """A real demo run with validation, for the tools that read a run
    (tools/infer.py, analyze_logs.py): 2 epochs on the small val split,
    every iteration logged. Returns ``(work_dir, digits_root)``; the run's
    ``<timestamp>/vis_data/scalars.json`` has ``loss`` per iteration and
    ``accuracy/top1`` per epoch."""
    from mmbackbones.cli import train as train_cli
    work_dir = str(tmp_path_factory.mktemp('demo_run'))
    train_cli.main([
        DEMO_CONFIG, '--work-dir', work_dir,
        *demo_options(digits_root, 2, 'train_dataloader.num_workers=0',
                      'val_dataloader.num_workers=0',
                      'val_dataloader.persistent_workers=False',
                      'train_dataloader.dataset.data_prefix=val',
                      'default_hooks.logger.interval=1')
    ])
    return work_dir, digits_root


def readme_blocks(section: str, lang: str) -> list:
    """The ```lang code blocks of README.md's ``## section`` (to run the
    commands the README shows)."""
    import re
    with open(os.path.join(REPO_ROOT, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    start = text.index(f'\n## {section}\n')
    end = text.find('\n## ', start + 1)
    body = text[start:end if end > 0 else None]
    return re.findall(rf'```{lang}\n(.*?)```', body, flags=re.S)


def readme_commands(section: str) -> list:
    """The shell commands of a README section's bash blocks, one string per
    command (backslash continuations joined, comments dropped)."""
    commands = []
    for block in readme_blocks(section, 'bash'):
        for command in block.replace('\\\n', ' ').splitlines():
            command = command.split('  #')[0].strip()
            if command and not command.startswith('#'):
                commands.append(' '.join(command.split()))
    return commands


def run_readme_command(command: str, cwd: str, monkeypatch, capsys) -> str:
    """Run ``python tools/X.py ARGS`` from the README as written, in this
    process (the tool's own file through runpy, from ``cwd``; a fresh
    interpreter per command costs seconds of imports). Returns its stdout;
    a nonzero exit fails with its stderr."""
    import runpy
    import shlex
    argv = shlex.split(command)
    assert argv[0] == 'python' and argv[1].startswith('tools/'), command
    tool = os.path.join(REPO_ROOT, argv[1])
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, 'argv', [tool, *argv[2:]])
    capsys.readouterr()
    try:
        runpy.run_path(tool, run_name='__main__')
    except SystemExit as exit_info:
        assert not exit_info.code, capsys.readouterr().err[-3000:]
    return capsys.readouterr().out


def free_port() -> str:
    """A TCP port nothing listens on now, for a torchrun rendezvous: fixed
    ports collide when two test processes (pytest-xdist workers, two
    checkouts) run distributed tests at the same time."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


@pytest.fixture(scope='session')
def small_digits_root(digits_root, tmp_path_factory):
    """The digits layout (train/ and val/, the same 10 class folders) with
    the first 12 images of each class: 120 images, two batches of the
    demo's 64 per epoch (so the data order counts), for runs
    whose point is process and file behaviour, not learning."""
    import shutil
    root = str(tmp_path_factory.mktemp('data') / 'small_digits')
    for split in ('train', 'val'):
        for label in sorted(os.listdir(os.path.join(digits_root, split))):
            source = os.path.join(digits_root, split, label)
            target = os.path.join(root, split, label)
            os.makedirs(target)
            for name in sorted(os.listdir(source))[:12]:
                shutil.copy(os.path.join(source, name), target)
    return root


def pytest_collection_finish(session):
    # Every test module is imported now: torch, mmengine, mmpretrain, mmdet
    # ... are ~0.4M objects the cyclic garbage collector would walk on
    # each full collection -- 0.2-0.4 s each, and mmengine's datasets call
    # gc.collect() every time one is built (two per Runner). Nothing
    # imported is garbage: move it out of the collector's sight.
    import gc
    gc.collect()
    gc.freeze()
