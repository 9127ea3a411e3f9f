"""Every tool's CONFIG is a config file or a model name (issue 15, §2):
``cli.common.load_config`` resolves a name through the zoo
(``mmbackbones.model_config``), so ``tools/train.py resnet50`` works as
``tools/infer.py resnet50`` did; an unknown name is the zoo's "closest
names" message, one line, exit status 2."""
import os.path as osp

import pytest
from conftest import REPO_ROOT, demo_options, run_tool

from mmbackbones.cli import (benchmark, convert_weights, deploy, get_flops,
                             infer, test, train, train_speed)
from mmbackbones.cli.common import EXIT_BAD_INPUT, ToolError, call_tool
from mmbackbones.utils import config_file, load_config


def test_load_config_takes_a_path_or_a_name():
    by_name = load_config('resnet18', {'model.backbone.depth': 34})
    assert osp.realpath(by_name.filename) == osp.realpath(
        osp.join(REPO_ROOT, 'configs', 'resnet', 'resnet18.py'))
    assert by_name.model.backbone.depth == 34  # --cfg-options applied
    path = osp.join(REPO_ROOT, 'configs', 'resnet.py')
    assert config_file(path) == path  # a file stays as it is
    # Case and '-' as in the file names (repvgg-A0 is repvgg_a0).
    assert config_file('RepVGG-A0') == config_file('repvgg_a0')


@pytest.mark.parametrize('spec, message', [
    ('resnt50', "unknown model name 'resnt50'; closest: ['resnet50'"),
    ('configs/nope.py', 'config file not found: configs/nope.py'),
    ('configs/resnet', 'config file not found: configs/resnet'),
    ('', 'the config must be a config file or a model name'),
])
def test_a_bad_config_argument_is_one_input_error(spec, message):
    with pytest.raises(ToolError) as info:
        load_config(spec)
    assert message in str(info.value)


def _inputs(tmp_path):
    """Files that exist, so that each tool gets as far as the config."""
    image = tmp_path / 'x.png'
    checkpoint = tmp_path / 'x.pth'
    image.write_bytes(b'')
    checkpoint.write_bytes(b'')
    return str(checkpoint), str(image), str(tmp_path / 'out.pth')


@pytest.mark.parametrize('module, argv', [
    (train, ['resnt50']),
    (test, ['resnt50', '{ckpt}']),
    (deploy, ['resnt50', '{ckpt}', '--out', '{out}', '--speed-steps', '0']),
    (infer, ['resnt50', '{ckpt}', '{image}']),
    (get_flops, ['resnt50']),
    (convert_weights, ['--source', 'torchvision', '--config', 'resnt50',
                       '{ckpt}', '{out}']),
    (benchmark, ['resnt50', '--reference', 'torchvision:resnet50']),
    (train_speed, ['resnt50']),
], ids=lambda v: getattr(v, '__name__', '').rsplit('.', 1)[-1])
def test_every_tool_refuses_an_unknown_name_with_the_closest(
        module, argv, tmp_path, capsys):
    ckpt, image, out = _inputs(tmp_path)
    argv = [a.format(ckpt=ckpt, image=image, out=out) for a in argv]
    prog = f'{module.__name__.rsplit(".", 1)[-1]}.py'
    assert call_tool(module.main, argv, prog=prog,
                     bad_input=(ValueError, )) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    line = err[err.index(f'{prog}: error: '):].strip()
    assert len(line.splitlines()) == 1, err[-2000:]
    assert "unknown model name 'resnt50'; closest: ['resnet50'" in line
    assert not osp.exists(out)


def test_get_flops_of_a_model_name_in_a_real_process():
    proc = run_tool(['tools/analysis/get_flops.py', 'resnet18', '--counter',
                     'meta', '--shape', '64'], timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'Input shape: (3, 64, 64)' in proc.stdout
    assert '| backbone | 11.177M' in proc.stdout  # ResNet-18's backbone


def test_test_tool_evaluates_a_model_name(runner_checkpoint, digits_root,
                                          tmp_path, capsys):
    """tools/test.py shufflenet_v2_digits CKPT: the demo by its name."""
    test.main(['shufflenet_v2_digits', runner_checkpoint, '--work-dir',
               str(tmp_path), *demo_options(digits_root, 1)])
    assert 'accuracy/top1: ' in capsys.readouterr().out
