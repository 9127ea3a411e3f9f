"""docs/model_zoo.md is what tools/gen_model_zoo.py makes of the configs and
docs/model_zoo_data.yaml.

The page's params and FLOPs come from docs/model_zoo_data.measured.json,
which keeps each config's counts with a digest of its model config: the
test checks every digest is current (a changed config means the page is
stale), recounts a sample of configs on the meta device (the families with
re-parameterisation, SE, depthwise, upsampling and the largest input), and
regenerates the page text.
"""
import os.path as osp

import pytest

from mmbackbones.analysis import model_zoo

SAMPLE = ['repvgg', 'seresnet/seresnext50_32x4d', 'mobilenet_v3',
          'hrnet', 'efficientnet/efficientnet_b3', 'vgg/vgg11']


@pytest.fixture(scope='module')
def generated():
    return model_zoo.generate()


def test_page_is_up_to_date(generated):
    assert generated['counted'] == [], (
        f'configs changed since the page was made: {generated["counted"]};'
        f' run {model_zoo.GENERATE_COMMAND}')
    with open(model_zoo.DOC_FILE) as f:
        committed = f.read()
    assert committed == generated['text'], (
        f'docs/model_zoo.md is out of date: run '
        f'{model_zoo.GENERATE_COMMAND}')
    configs = model_zoo.zoo_configs()
    for name in configs:  # one row per config, the config named
        assert f'| `{name}` |' in committed
    assert 'demo/shufflenet_v2_digits' not in configs


@pytest.mark.parametrize('name', SAMPLE)
def test_stored_counts_are_recounted(name, generated):
    stored = generated['facts'][name]
    fresh = model_zoo.config_facts(model_zoo.zoo_configs()[name])
    assert {k: stored[k] for k in fresh} == fresh


def test_top1_is_read_from_the_installed_sources(generated):
    from torchvision.models import get_weight
    top1 = model_zoo.resolve_top1('torchvision:ResNet50_Weights.IMAGENET1K_V1')
    assert top1['value'] == get_weight('ResNet50_Weights.IMAGENET1K_V1').meta[
        '_metrics']['ImageNet-1K']['acc@1'] == 76.13
    mm = model_zoo.resolve_top1('mmpretrain:repvgg-A0_8xb32_in1k')
    assert mm['value'] == 72.37 and 'repvgg/metafile.yml' in mm['source']
    with pytest.raises(KeyError):
        model_zoo.resolve_top1('mmpretrain:no-such-model')
    with pytest.raises(ValueError, match='top1 must be'):
        model_zoo.resolve_top1('paper:77.0')
    # Every entry resolves, and quoted ones say where they come from.
    for name, entry in generated['data']['variants'].items():
        spec = entry.get('top1')
        if isinstance(spec, dict):
            assert 'reference_accuracy.md' in spec['source'], name
        resolved = model_zoo.resolve_top1(spec)
        assert resolved is None or 40 < resolved['value'] < 90, name


def test_quoted_top1_match_the_shared_table(generated):
    path = '/work/shared/reference_accuracy.md'
    if not osp.isfile(path):
        pytest.skip('the shared table of published accuracies is not here')
    with open(path) as f:
        table = f.read()
    for name, entry in generated['data']['variants'].items():
        spec = entry.get('top1')
        if isinstance(spec, dict):
            assert f'{spec["value"]:g}' in table.replace('80.410', '80.41'), \
                name


def test_data_file_must_cover_every_config(tmp_path, monkeypatch):
    data = model_zoo.load_data()
    del data['variants']['vgg/vgg11']
    monkeypatch.setattr(model_zoo, 'load_data', lambda: data)
    with pytest.raises(ValueError, match=r"add \['vgg/vgg11'\]"):
        model_zoo.generate()


def test_plot_is_a_png(generated, tmp_path):
    out = tmp_path / 'zoo.png'
    model_zoo.plot(generated['facts'], generated['data'],
                   generated['measured'], str(out))
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert out.stat().st_size > 20000


def test_check_mode_says_up_to_date(generated, capsys, monkeypatch):
    from mmbackbones.cli import gen_model_zoo
    from mmbackbones.cli.common import call_tool
    monkeypatch.setattr(model_zoo, 'generate', lambda *a, **k: generated)
    assert gen_model_zoo.main(['--check']) == 0
    assert 'up to date' in capsys.readouterr().out
    # A stale page: exit status 1 and one line saying what to run.
    stale = dict(generated, text=generated['text'] + 'stale\n')
    monkeypatch.setattr(model_zoo, 'generate', lambda *a, **k: stale)
    assert call_tool(gen_model_zoo.main, ['--check'],
                     prog='gen_model_zoo.py') == 1
    assert capsys.readouterr().err == (
        'gen_model_zoo.py: error: docs/model_zoo.md is out of date; run '
        f'{model_zoo.GENERATE_COMMAND}\n')
