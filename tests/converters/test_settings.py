"""Converters carry the settings a source's weights imply (issue 14 item 5).

Each family/source pair that needs settings: random reference weights ->
tools/convert_weights.py (in-process: its ``main``) -> our model built from
the config it writes reproduces the reference to 1e-5 relative error with
randomised BN statistics, while the user's config does not; a config that
contradicts the source gets the keys and values to change.
"""
import timm
import torch
import torchvision
from backbone_checks import check_equivalent, randomize_bn
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmbackbones.cli.common import call_tool
from mmbackbones.cli.convert_weights import main
from mmbackbones.deploy.utils import relative_error
from mmbackbones.engine.checkpoint import load_checkpoint_file
from mmbackbones.registry import MODELS

V3_SMALL_050 = 'configs/mobilenet_v3/mobilenet_v3_small_050.py'
V3_SMALL_075 = 'configs/mobilenet_v3/mobilenet_v3_small_075.py'


def convert(capsys, source, config, ref, path, *extra):
    """Save ``ref``'s weights at ``path``, run the tool; (exit status,
    stdout, stderr, OUT.pth, OUT.py)."""
    torch.save(ref.state_dict(), path)
    out = path.with_name('converted.pth')
    code = call_tool(main, ['--source', source, '--config', str(config),
                            str(path), str(out), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, out, out.with_suffix('.py')


def build_backbone(config, weights=None):
    init_default_scope('mmbackbones')
    model = MODELS.build(Config.fromfile(str(config)).model)
    if weights is not None:
        state = load_checkpoint_file(str(weights))['state_dict']
        assert all(k.startswith('backbone.') for k in state)
        model.backbone.load_state_dict(
            {k[len('backbone.'):]: v for k, v in state.items()}, strict=True)
    return model.backbone.eval()


def check_reproduces(config_out, weights, user_config, reference, x):
    """The written config + weights reproduce the reference; the user's
    config with the same weights does not (the setting matters)."""
    ours = build_backbone(config_out, weights)
    check_equivalent(ours, reference, x)
    plain = build_backbone(user_config)
    plain.load_state_dict(ours.state_dict())
    with torch.no_grad():
        assert relative_error(plain(x)[-1], reference(x)) > 1e-4


def test_timm_mobilenet_v3_needs_bn_eps(tmp_path, capsys):
    ref = randomize_bn(timm.create_model('mobilenetv3_small_050')).eval()
    code, out, err, pth, py = convert(capsys, 'timm', V3_SMALL_050, ref,
                                      tmp_path / 'weights.pth')
    assert code == 0, err
    assert 'verified against timm mobilenetv3_small_050' in out
    assert "model.backbone.norm_cfg.eps: 0.001 (the default) -> 1e-05" in out
    assert f'use {py}' in err and 'model.backbone.norm_cfg.eps=1e-05' in err
    meta = load_checkpoint_file(str(pth))['meta']
    assert meta['source_model'] == 'mobilenetv3_small_050'
    assert meta['config'] == py.name
    check_reproduces(py, pth, V3_SMALL_050, ref.forward_features,
                     torch.rand(2, 3, 48, 48))


def test_timm_tf_port_needs_same_padding_and_is_told_by_name(tmp_path,
                                                             capsys):
    ref = randomize_bn(timm.create_model('tf_mobilenetv3_small_075')).eval()
    # Same keys and shapes as mobilenetv3_small_075, other settings: the
    # checkpoint alone cannot tell.
    code, _, err, pth, py = convert(capsys, 'timm', V3_SMALL_075, ref,
                                    tmp_path / 'weights.pth')
    assert code == 2 and '--source-model' in err
    assert "'mobilenetv3_small_075', 'tf_mobilenetv3_small_075'" in err
    assert not pth.exists() and not py.exists()
    # timm's file name (or --source-model) tells.
    code, out, err, pth, py = convert(
        capsys, 'timm', V3_SMALL_075, ref,
        tmp_path / 'tf_mobilenetv3_small_075-150d4ae0.pth')
    assert code == 0, err
    assert 'tf_mobilenetv3_small_075 (from the file name)' in out
    assert "conv_cfg: None (the default) -> {'type': " \
        "'Conv2dAdaptivePadding'}" in out
    assert 'data_preprocessor.mean' in out  # [-1, 1]: timm's pretrained_cfg
    assert Config.fromfile(str(py)).data_preprocessor.mean == [127.5] * 3
    check_reproduces(py, pth, V3_SMALL_075, ref.forward_features,
                     torch.rand(2, 3, 57, 57))  # odd size: SAME pads 1 side


def test_torchvision_efficientnet_needs_padding_and_eps(tmp_path, capsys):
    ref = randomize_bn(torchvision.models.efficientnet_b0()).eval()
    code, out, err, pth, py = convert(capsys, 'torchvision',
                                      'configs/efficientnet.py', ref,
                                      tmp_path / 'tv.pth')
    assert code == 0, err
    assert 'model.backbone.conv_cfg' in out
    assert 'model.backbone.norm_cfg.eps: 0.001 -> 1e-05' in out
    backbone = Config.fromfile(str(py)).model.backbone
    assert backbone.conv_cfg is None and backbone.norm_cfg.eps == 1e-5
    assert backbone.norm_cfg.momentum == 0.01  # the rest of the config kept
    check_reproduces(py, pth, 'configs/efficientnet.py', ref.features,
                     torch.rand(2, 3, 32, 32))


def test_timm_darknet_needs_leaky_relu_slope(tmp_path, capsys):
    ref = randomize_bn(timm.create_model('darknet53')).eval()
    code, out, err, pth, py = convert(capsys, 'timm', 'configs/darknet.py',
                                      ref, tmp_path / 'd.pth',
                                      '--verify-size', '32')
    assert code == 0, err
    assert 'act_cfg.negative_slope: 0.1 (the default) -> 0.01' in out
    check_reproduces(py, pth, 'configs/darknet.py', ref.forward_features,
                     torch.rand(1, 3, 32, 32))


def test_torchvision_googlenet_needs_inception_normalisation(tmp_path,
                                                             capsys):
    ref = torchvision.models.googlenet(init_weights=False)
    code, out, err, _, py = convert(capsys, 'torchvision',
                                    'configs/googlenet.py', ref,
                                    tmp_path / 'g.pth', '--no-verify')
    assert code == 0, err
    assert 'transform_input=True' in out and 'not verified' in out
    cfg = Config.fromfile(str(py))
    assert cfg.data_preprocessor.mean == cfg.data_preprocessor.std == [
        127.5] * 3


def test_contradicting_config_is_told_which_keys(tmp_path, capsys):
    # The user's own eps (not a default) contradicts torchvision's 1e-3.
    cfg = Config.fromfile('configs/mobilenet_v3/mobilenet_v3_small.py')
    cfg.model.backbone.norm_cfg = dict(type='BN', eps=1e-5)
    user_config = tmp_path / 'my_mobilenet_v3.py'
    user_config.write_text(cfg.pretty_text)
    ref = torchvision.models.mobilenet_v3_small()
    code, out, err, pth, py = convert(capsys, 'torchvision', user_config,
                                      ref, tmp_path / 'tv.pth')
    assert code == 0, err
    assert 'model.backbone.norm_cfg.eps: 1e-05 -> 0.001' in out
    assert '(the default)' not in out.split('norm_cfg.eps')[1][:20]
    assert 'does not reproduce these weights' in err
    assert 'model.backbone.norm_cfg.eps=0.001' in err
    assert pth.exists() and Config.fromfile(
        str(py)).model.backbone.norm_cfg.eps == 1e-3


def test_verification_refuses_and_writes_nothing(tmp_path, capsys):
    ref = randomize_bn(timm.create_model('mobilenetv3_small_050'))
    code, _, err, pth, py = convert(capsys, 'timm', V3_SMALL_050, ref,
                                    tmp_path / 'w.pth', '--rtol', '1e-12')
    assert code == 2 and 'nothing written' in err
    assert 'max relative error of the features' in err
    assert not pth.exists() and not py.exists()


def test_verification_catches_keys_that_fit_another_arch(tmp_path, capsys):
    # timm's resnet50d (deep stem + average-pooled shortcuts) loads strictly
    # into ResNetV1c (deep stem, strided shortcuts: the shortcut layers are
    # matched by order) -- a wrong model that only running it shows.
    ref = timm.create_model('resnet50d')
    code, _, err, pth, py = convert(capsys, 'timm',
                                    'configs/resnet/resnet50_v1c.py', ref,
                                    tmp_path / 'w.pth', '--verify-size',
                                    '32')
    assert code == 2 and 'differs from timm resnet50c' in err
    assert 'downsample' in err and 'nothing written' in err
    assert not pth.exists() and not py.exists()
