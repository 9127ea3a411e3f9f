"""Bad input to the tools: one message naming the problem, exit code 2,
no traceback (issue: training that survives, item 6)."""
import pathlib

import pytest
from conftest import DEMO_CONFIG, demo_options

from mmbackbones.cli import test as test_cli
from mmbackbones.cli import train as train_cli


def _fails(cli, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    # In-process runs share mmengine's loggers, whose handlers may still
    # point at an earlier test's closed capture stream ("--- Logging error
    # ---"); what the tool itself prints starts at its 'error: ' line.
    ours = err[err.index('error: '):]
    assert 'Traceback' not in ours and '--- Logging error' not in ours
    return ours


def test_missing_config(capsys):
    err = _fails(train_cli.cli, ['configs/nope.py'], capsys)
    assert 'config file not found: configs/nope.py' in err


def test_broken_config(tmp_path, capsys):
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(type=\n')
    err = _fails(train_cli.cli, [str(broken)], capsys)
    assert f'cannot load config {broken}' in err and 'SyntaxError' in err


def test_unknown_cfg_options_key(capsys):
    err = _fails(train_cli.cli, [DEMO_CONFIG, '--cfg-options',
                                 'train_cfg.max_epoch=3'], capsys)
    assert "train_cfg has no key 'max_epoch'" in err
    assert 'max_epochs' in err  # lists the keys that are there


def test_resume_on_empty_work_dir(tmp_path, digits_root, capsys):
    err = _fails(train_cli.cli, [
        DEMO_CONFIG, '--work-dir', str(tmp_path), '--resume',
        *demo_options(digits_root, 1)
    ], capsys)
    assert 'no checkpoint to resume from' in err


def test_resume_from_corrupt_checkpoint(tmp_path, digits_root,
                                        runner_checkpoint, capsys):
    cut = tmp_path / 'epoch_1.pth'
    cut.write_bytes(pathlib.Path(runner_checkpoint).read_bytes()[:4096])
    err = _fails(train_cli.cli, [
        DEMO_CONFIG, '--work-dir', str(tmp_path), '--resume', str(cut),
        *demo_options(digits_root, 1)
    ], capsys)
    assert 'truncated or corrupt' in err


def test_test_tool_refuses_truncated_checkpoint(tmp_path, digits_root,
                                               runner_checkpoint, capsys):
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(pathlib.Path(runner_checkpoint).read_bytes()[:10000])
    err = _fails(test_cli.cli, [DEMO_CONFIG, str(cut), '--work-dir',
                                str(tmp_path / 'w'),
                                *demo_options(digits_root, 1)], capsys)
    assert 'truncated or corrupt' in err


def test_checkpoint_of_another_architecture(tmp_path, digits_root,
                                            runner_checkpoint, capsys):
    options = demo_options(digits_root, 1, 'model.backbone.widen_factor=0.5')
    err = _fails(test_cli.cli, [DEMO_CONFIG, runner_checkpoint,
                                '--work-dir', str(tmp_path / 'w'),
                                *options], capsys)
    assert 'does not fit the model of this config' in err
    assert 'shape mismatch' in err and 'backbone.' in err
    # --resume refuses it the same way instead of half-loading it.
    err = _fails(train_cli.cli, [DEMO_CONFIG, '--work-dir',
                                 str(tmp_path / 'r'), '--resume',
                                 runner_checkpoint, *options], capsys)
    assert 'does not fit the model of this config' in err


def test_checkpoint_arg_checks_local_paths_and_leaves_urls_to_the_loaders(
        tmp_path):
    """A missing local file is refused up front; a URL is not a local path
    and is read (safely) by mmbackbones' scheme loaders when loading."""
    from mmbackbones.cli.common import ToolError, check_checkpoint_arg
    with pytest.raises(ToolError, match='load_from: checkpoint file not'):
        check_checkpoint_arg(str(tmp_path / 'missing.pth'), 'load_from')
    for url in ('http://127.0.0.1:9/x.pth', 'open-mmlab://resnet50_v1c',
                'torchvision://resnet18'):
        check_checkpoint_arg(url, 'load_from')  # no error: not a file path
