"""The README's main command (shortened) and the missing-ImageNet stop."""
import glob
import os.path as osp
import re

import pytest
import torch
from conftest import REPO_ROOT, run_tool

from mmbackbones.cli import train as train_cli
from mmbackbones.datasets import prepare_digits


def test_digits_dataset_is_written_once_with_a_fixed_split(tmp_path):
    root = str(tmp_path / 'digits')
    prepare_digits(root)
    train = sorted(glob.glob(osp.join(root, 'train', '*', '*.png')))
    val = sorted(glob.glob(osp.join(root, 'val', '*', '*.png')))
    assert len(train) + len(val) == 1797
    assert len({osp.basename(p) for p in train} & {osp.basename(p)
                                                   for p in val}) == 0
    assert len(glob.glob(osp.join(root, 'val', '*'))) == 10
    prepare_digits(root)  # second call keeps what is there
    assert sorted(glob.glob(osp.join(root, 'val', '*', '*.png'))) == val


def test_demo_trains_evaluates_and_saves(tmp_path):
    work_dir = tmp_path / 'work'
    result = run_tool([
        'tools/train.py', 'configs/demo/shufflenet_v2_digits.py',
        '--work-dir', str(work_dir), '--cfg-options',
        f'data_root={tmp_path}/digits', 'train_cfg.max_epochs=3',
        'train_cfg.val_interval=3', 'param_scheduler.0.end=1',
        'param_scheduler.1.begin=1', 'param_scheduler.1.end=3',
        f'train_dataloader.dataset.data_root={tmp_path}/digits',
        f'val_dataloader.dataset.data_root={tmp_path}/digits',
        f'test_dataloader.dataset.data_root={tmp_path}/digits',
        f'prepare_data.data_root={tmp_path}/digits'
    ])
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'eta:' in log  # progress with an ETA
    top1 = re.findall(r'accuracy/top1: ([\d.]+)', log)
    assert top1 and float(top1[-1]) > 50.0  # chance is 10%
    checkpoint = work_dir / 'epoch_3.pth'
    assert checkpoint.is_file()
    state = torch.load(checkpoint, weights_only=True)['state_dict']
    assert 'backbone.conv1.conv.weight' in state


def test_missing_imagenet_is_one_clear_message(tmp_path, monkeypatch,
                                               capsys):
    """In this process: the same SystemExit(2) a fresh interpreter turns
    into exit status 2 (a real process's status 2 and one-line message are
    checked in tests/tools/test_exit_codes.py, tools/train.py's real
    process in the demo test above)."""
    monkeypatch.chdir(tmp_path)  # no data/imagenet here
    with pytest.raises(SystemExit) as exit_info:
        train_cli.cli([osp.join(REPO_ROOT, 'configs', 'shufflenet_v2.py')])
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert 'Traceback' not in stderr
    assert "'data/imagenet/train' does not exist" in stderr \
        or "'data/imagenet' does not exist" in stderr
    assert 'meta/train.txt' in stderr  # how to lay it out
    assert 'configs/demo/shufflenet_v2_digits.py' in stderr
