"""tools/deploy.py: end to end on a checkpoint of a real (short) training
run, a detector-shaped config, and every refusal."""
import hashlib
import os
import os.path as osp
import re
import textwrap

import pytest
import torch
from backbone_checks import randomize_bn
from conftest import REPO_ROOT, run_tool
from deploy_helpers import (TINY_DETECTOR, WRONG_REPARAM_NET, TinyDetector,
                            single_thread)
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

from mmbackbones.cli import deploy as deploy_cli
from mmbackbones.cli import train as train_cli
from mmbackbones.cli.common import call_tool
from mmbackbones.deploy import convert_to_deploy, relative_error, run_model
from mmbackbones.deploy.onnx import onnx_outputs
from mmbackbones.engine import load_checkpoint_file
from mmbackbones.registry import MODELS

TOOL = osp.join(REPO_ROOT, 'tools', 'deploy.py')
HELPERS = osp.dirname(osp.abspath(__file__))
TINY_ARCH = dict(num_blocks=(1, 2, 1, 1), width_factor=(1, 1, 1, 1))

# Another project's config style: string types (the detector's an import
# path), our backbone inside.
DETECTOR_CONFIG = f"""
default_scope = 'mmbackbones'
model = dict(
    type={TINY_DETECTOR!r},
    backbone=dict(type='RepVGG', arch={TINY_ARCH!r}, base_channels=8,
                  out_indices=(1, 2, 3)),
    in_channels=[16, 32, 64])
"""

one_thread = pytest.fixture(autouse=True)(single_thread)


def deploy(*args):
    """Run the tool in this process (quick, no timing); its exit status."""
    return call_tool(deploy_cli.main, [*map(str, args), '--shape', '32',
                                       '--speed-steps', '0'],
                     prog='deploy.py')


def digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return str(path)


def build_and_load(config, checkpoint):
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    state = load_checkpoint_file(checkpoint)['state_dict']
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture(scope='module')
def trained(tmp_path_factory, tiny_imagenet):
    """A tiny RepVGG classifier (our RepVGG recipe, a tiny arch) trained
    for one epoch by tools/train.py's code (mmengine Runner): its saved
    config and real checkpoint."""
    root = tmp_path_factory.mktemp('deploy_train')
    # The recipe read from the repo and dumped (inheriting it by package
    # name, ``from mmbackbones.configs.repvgg import *``, needs mmengine to
    # find the installed package's files: tests/tools/test_cross_project).
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'repvgg.py'))
    cfg.model.backbone = dict(type='mmbackbones.RepVGG', arch=TINY_ARCH,
                              base_channels=8)
    cfg.model.head.in_channels = 64
    config = str(root / 'tiny_repvgg.py')
    cfg.dump(config)
    work_dir = root / 'work'
    train_cli.main([
        config, '--work-dir', str(work_dir), '--no-validate', '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_imagenet}',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
        'default_hooks.checkpoint.save_best=None'
    ])
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file(), os.listdir(work_dir)
    # The config as the Runner saved it beside the checkpoint (what users
    # deploy with; it needs no config inheritance from the installed
    # package, which an editable install cannot resolve outside the repo).
    saved_config = work_dir / 'tiny_repvgg.py'
    assert saved_config.is_file()
    return str(saved_config), str(checkpoint)


@pytest.fixture
def detector(tmp_path):
    """The detector-shaped config and a checkpoint with random weights."""
    config = write(tmp_path / 'detector.py', DETECTOR_CONFIG)
    init_default_scope('mmbackbones')
    model = randomize_bn(TinyDetector(
        backbone=dict(type='RepVGG', arch=TINY_ARCH, base_channels=8,
                      out_indices=(1, 2, 3)), in_channels=[16, 32, 64]))
    checkpoint = str(tmp_path / 'detector.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    return config, checkpoint


# --------------------------------------------------------------------- #
# It works
# --------------------------------------------------------------------- #
def test_end_to_end_on_a_trained_checkpoint(trained, tmp_path):
    config, checkpoint = trained
    out, onnx = tmp_path / 'deployed.pth', tmp_path / 'deployed.onnx'
    proc = run_tool([TOOL, config, checkpoint, '--out', str(out), '--onnx',
                     str(onnx), '--shape', '32', '--speed-steps', '2'],
                    env=dict(PYTHONPATH=os.pathsep.join([HELPERS, REPO_ROOT])))
    assert proc.returncode == 0, proc.stderr[-3000:]
    error = float(re.search(r'deploy vs original: max relative error (\S+)',
                            proc.stdout).group(1))
    assert error <= 1e-5
    assert re.search(r'ONNX Runtime vs PyTorch: max relative error \S+',
                     proc.stdout)
    assert re.search(r'inference speed-up \d+\.\d+x', proc.stdout)
    assert (tmp_path / 'deployed.py').is_file() and onnx.is_file()

    # OUT.py + OUT.pth (weights_only, strict keys) give the deploy model.
    deploy_cfg = Config.fromfile(str(tmp_path / 'deployed.py'))
    # The deploy form is stated once: the conversion, not also a flag.
    assert 'deploy' not in deploy_cfg.model.backbone
    init_default_scope(deploy_cfg.default_scope)
    deployed = MODELS.build(deploy_cfg.model).eval()
    assert deployed.backbone.deploy is True
    state = torch.load(str(out), weights_only=True)['state_dict']
    deployed.load_state_dict(state, strict=True)
    assert not any(isinstance(m, _BatchNorm) for m in deployed.modules())

    original = build_and_load(config, checkpoint)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = run_model(original, x)
        assert relative_error(run_model(deployed, x), expected) <= 1e-5
    # The ONNX file runs another batch size than the export's.
    assert relative_error(onnx_outputs(onnx.read_bytes(), x),
                          expected) <= 1e-4
    # The inputs are untouched.
    assert load_checkpoint_file(checkpoint)['state_dict'].keys() == \
        original.state_dict().keys()


def test_detector_config_with_the_backbone_inside(detector, tmp_path,
                                                  capsys):
    config, checkpoint = detector
    out = tmp_path / 'det_deploy.pth'
    assert deploy(config, checkpoint, '--out', out) == 0
    printed = capsys.readouterr().out
    assert 'fused 4 Conv -> BN pair(s)' in printed  # 3 neck + shared head
    deploy_cfg = Config.fromfile(str(tmp_path / 'det_deploy.py'))
    assert deploy_cfg.model.model_type == TINY_DETECTOR
    assert 'deploy' not in deploy_cfg.model.backbone
    assert 'neck.0.conv' in deploy_cfg.model.fused_conv_bn
    deployed = build_and_load(str(tmp_path / 'det_deploy.py'), str(out))
    assert not any(isinstance(m, _BatchNorm) for m in deployed.modules())

    # A deploy config is not a training config.
    assert deploy(tmp_path / 'det_deploy.py', out, '--out',
                  tmp_path / 'again.pth') == 2
    assert 'already a deploy config' in capsys.readouterr().err


def test_no_fuse_only_switches_blocks(detector, tmp_path):
    config, checkpoint = detector
    out = tmp_path / 'switched.pth'
    assert deploy(config, checkpoint, '--out', out, '--no-fuse') == 0
    deployed = build_and_load(str(tmp_path / 'switched.py'), str(out))
    assert deployed.backbone.deploy
    assert sum(isinstance(m, _BatchNorm) for m in deployed.modules()) == 4


def test_a0_deploy_config_loads_deployed_recipe_weights():
    """configs/repvgg/repvgg_a0_deploy.py builds what tools/deploy.py
    makes of configs/repvgg.py: the deploy weights load strictly."""
    init_default_scope('mmbackbones')
    recipe = MODELS.build(Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'repvgg.py')).model)
    info = convert_to_deploy(recipe, torch.randn(1, 3, 32, 32))
    assert info.fused == []  # nothing but re-parameterisable blocks
    deploy_model = MODELS.build(Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'repvgg', 'repvgg_a0_deploy.py')).model)
    deploy_model.load_state_dict(recipe.state_dict(), strict=True)


# --------------------------------------------------------------------- #
# Refusals: exit status 2 (every tool's rule for bad input), one line,
# nothing written
# --------------------------------------------------------------------- #
def assert_refused(status, capsys, pattern, *not_written):
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith('deploy.py: error: ')
    assert 'Traceback' not in err
    assert re.search(pattern, err), err
    for path in not_written:
        assert not osp.exists(path), path


def test_refuses_a_checkpoint_of_another_architecture(trained, detector,
                                                      tmp_path, capsys):
    config, _ = trained
    _, other = detector
    out = tmp_path / 'x.pth'
    assert_refused(
        deploy(config, other, '--out', out), capsys,
        r"not a checkpoint of the model in .*: 2 missing \(first: "
        r"\['head\.fc\.weight', 'head\.fc\.bias'\]\); 26 unexpected "
        r"\(first: \['neck\.0\.conv\.weight'", out, tmp_path / 'x.py')


def test_refuses_to_overwrite_its_inputs(trained, tmp_path, capsys):
    config, checkpoint = trained
    before = digest(checkpoint)
    assert_refused(deploy(config, checkpoint, '--out', checkpoint), capsys,
                   'refusing to overwrite the checkpoint')
    assert digest(checkpoint) == before
    # OUT.py would be the config itself.
    config_copy = tmp_path / 'cfg.py'
    config_copy.write_text(open(config).read())
    assert_refused(deploy(config_copy, checkpoint, '--out',
                          tmp_path / 'cfg.pth'), capsys,
                   'refusing to overwrite the config', tmp_path / 'cfg.pth')
    assert_refused(deploy(config, checkpoint, '--out', tmp_path / 'a.pth',
                          '--onnx', tmp_path / 'a.py'), capsys,
                   'two outputs are the same file', tmp_path / 'a.pth')
    assert_refused(deploy(config, checkpoint, '--out', tmp_path / 'a.ckpt'),
                   capsys, 'must name a .pth file')


class NotAWeight:
    """Pickled into a checkpoint: loading it would run this module's
    code."""


def test_refuses_unsafe_and_corrupt_checkpoints(trained, tmp_path, capsys):
    config, checkpoint = trained
    unsafe = tmp_path / 'unsafe.pth'
    state = load_checkpoint_file(checkpoint)['state_dict']
    torch.save(dict(state_dict=state, extra=NotAWeight()), unsafe)
    assert_refused(deploy(config, unsafe, '--out', tmp_path / 'u.pth'),
                   capsys, 'refusing to load .*NotAWeight',
                   tmp_path / 'u.pth')
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(open(checkpoint, 'rb').read()[:5000])
    assert_refused(deploy(config, corrupt, '--out', tmp_path / 'c.pth'),
                   capsys, 'truncated or corrupt', tmp_path / 'c.pth')
    assert_refused(deploy(config, tmp_path / 'missing.pth', '--out',
                          tmp_path / 'm.pth'), capsys,
                   'checkpoint not found')
    assert_refused(deploy(tmp_path / 'missing.py', checkpoint, '--out',
                          tmp_path / 'm.pth'), capsys, 'config file not found')


def test_refuses_a_deploy_model_that_differs(tmp_path, capsys):
    config = write(tmp_path / 'wrong.py', """
        default_scope = 'mmbackbones'
        model = dict(type='deploy_helpers.WrongReparamNet')
    """)
    init_default_scope('mmbackbones')
    model = randomize_bn(MODELS.build(dict(type=WRONG_REPARAM_NET)))
    checkpoint = tmp_path / 'wrong.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    out, onnx = tmp_path / 'w.pth', tmp_path / 'w.onnx'
    assert_refused(deploy(config, checkpoint, '--out', out, '--onnx', onnx),
                   capsys, r'differs from the original: max relative error '
                   r'\S+ > 1e-05 on random input; nothing was written', out,
                   onnx,
                   tmp_path / 'w.py')


def _repvgg_checkpoint(tmp_path, poison=None):
    """A tiny RepVGG backbone config and a checkpoint of it with random BN
    statistics; ``poison(model)`` may damage the weights first."""
    config = write(tmp_path / 'repvgg.py', f"""
        default_scope = 'mmbackbones'
        model = dict(type='RepVGG', arch={TINY_ARCH!r}, base_channels=8)
    """)
    init_default_scope('mmbackbones')
    model = randomize_bn(MODELS.build(dict(type='RepVGG', arch=TINY_ARCH,
                                           base_channels=8)))
    if poison is not None:
        poison(model)
    checkpoint = tmp_path / 'repvgg.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    return config, checkpoint


def test_refuses_a_checkpoint_whose_outputs_are_nan(tmp_path, capsys):
    """One NaN in a BN running_var made every comparison pass ("max
    relative error 0.00e+00") and the files were written."""
    def poison(model):
        bn = next(m for m in model.modules() if isinstance(m, _BatchNorm))
        bn.running_var[0] = float('nan')

    config, checkpoint = _repvgg_checkpoint(tmp_path, poison)
    out, onnx = tmp_path / 'n.pth', tmp_path / 'n.onnx'
    assert_refused(
        deploy(config, checkpoint, '--out', out, '--onnx', onnx), capsys,
        r'the original model .* gives \d+ non-finite \(NaN/inf\) output '
        r'value\(s\).*non-finite weights or statistics in: '
        r'\S+\.running_var', out, onnx,
        tmp_path / 'n.py')


def test_refuses_a_deploy_model_that_turns_nan(tmp_path, capsys,
                                               monkeypatch):
    """Finite original, NaN deploy model: refused with its own message."""
    from mmbackbones.deploy import pipeline
    convert = pipeline.convert_to_deploy

    def nan_convert(model, inputs, fuse=True):
        info = convert(model, inputs, fuse=fuse)
        with torch.no_grad():  # the last block's bias: inf after ReLU
            list(model.parameters())[-1].fill_(float('inf'))
        return info

    monkeypatch.setattr(pipeline, 'convert_to_deploy', nan_convert)
    config, checkpoint = _repvgg_checkpoint(tmp_path)
    out = tmp_path / 'd.pth'
    assert_refused(deploy(config, checkpoint, '--out', out), capsys,
                   r'the deploy model gives \d+ non-finite', out,
                   tmp_path / 'd.py')


def test_a_refusal_is_the_one_bad_input_error():
    """DeployError is the tools' ToolError (exit status 2 through the one
    rule), still a ValueError for library callers."""
    from mmbackbones.cli.common import EXIT_BAD_INPUT, ToolError
    from mmbackbones.deploy import DeployError
    assert issubclass(DeployError, ToolError)
    assert issubclass(DeployError, ValueError)
    assert DeployError.exit_code == EXIT_BAD_INPUT


def test_relative_error_is_nan_safe():
    ones = torch.ones(3)
    nan = torch.tensor([1.0, float('nan'), 1.0])
    inf = torch.tensor([1.0, float('inf'), 1.0])
    assert relative_error(ones, ones) == 0
    for a, b in [(nan, ones), (ones, nan), (nan, nan), (inf, inf),
                 ((ones, inf), (ones, ones))]:
        assert relative_error(a, b) == float('inf')
        assert relative_error(a, b) > 1e-5  # what the checks compare
    # The tests' helper is the package's one.
    import backbone_checks
    assert backbone_checks.relative_error is relative_error


def test_onnx_check_refuses_non_finite_outputs():
    from mmbackbones.deploy import check_onnx, export_onnx
    init_default_scope('mmbackbones')
    model = MODELS.build(dict(type='RepVGG', arch=TINY_ARCH,
                              base_channels=8)).eval()
    onnx_bytes = export_onnx(model, torch.randn(1, 3, 32, 32))
    x = torch.randn(2, 3, 32, 32)
    assert check_onnx(onnx_bytes, model, x) <= 1e-4
    x[0, 0, 0, 0] = float('nan')  # both give NaN: no longer "equal"
    with pytest.raises(ValueError, match='non-finite'):
        check_onnx(onnx_bytes, model, x)
