"""tools/analysis/get_flops.py and mmbackbones.analysis.complexity.

The meta-device counter must give mmengine's ``FlopAnalyzer`` totals (here
for the unusual operators: grouped convs and channel shuffle, depthwise
convs and SE blocks whose 1x1 convs are matrix products (``PooledConv1x1``,
as in SE-ResNet, ResNeSt and VoVNet), re-parameterised RepVGG, HRNet's
upsampling; docs/model_zoo_data.measured.json records the check of every
family's default variant), and every config's counted params and FLOPs
must equal its row of the family page docs/model_zoo/<family>.md.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from mmbackbones.analysis import model_zoo
from mmbackbones.analysis.complexity import (build_model, check_shape,
                                             count_flops, count_flops_meta,
                                             model_complexity)
from mmbackbones.cli import get_flops

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.parametrize('cfg, size', [
    (dict(type='ShuffleNetV1', groups=8, widen_factor=1.0), 32),
    (dict(type='MobileNetV3', arch='small'), 32),
    (dict(type='RepVGG', arch='A0', deploy=True), 32),
    (dict(type='HRNet', arch='w18'), 64),
])
def test_meta_counter_equals_mmengine(cfg, size):
    model = build_model(cfg)
    x = torch.rand(1, 3, size, size)
    total, _, _ = count_flops(model, x)
    meta = build_model(cfg, 'meta')
    assert count_flops_meta(meta, x.to('meta')) == total > 0


def test_model_complexity_splits_backbone_and_model():
    cfg = dict(type='ImageClassifier',
               backbone=dict(type='mmbackbones.ShuffleNetV2',
                             widen_factor=0.5),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=10,
                         in_channels=1024))
    result = model_complexity(build_model(cfg), (48, 64))
    head = 1024 * 10  # the linear layer's multiply-adds
    assert result.input_shape == (3, 48, 64)
    assert result.model_params == result.backbone_params + 1024 * 10 + 10
    # GlobalAveragePooling runs adaptive_avg_pool2d: one per element of
    # the 1024 x 2 x 2 map.
    assert result.model_flops == result.backbone_flops + head + 1024 * 4
    meta = model_complexity(build_model(cfg, 'meta'), (48, 64),
                            counter='meta')
    assert (meta.backbone_flops, meta.model_flops) == (
        result.backbone_flops, result.model_flops)


@pytest.mark.parametrize('bad', [0, (1, 2, 3), (224, -1), 'x', (2.5, 3)])
def test_check_shape_rejects(bad):
    with pytest.raises(ValueError, match='shape must be'):
        check_shape(bad)


def test_counter_name_is_checked():
    with pytest.raises(ValueError, match="counter must be one of"):
        model_complexity(build_model(dict(type='SqueezeNet'), 'meta'), 32,
                         counter='fvcore')


def _parse(text):
    """A page's number and the half unit of its last digit."""
    text = text.strip().strip('*').strip()
    if re.fullmatch(r'[\d,]+', text):
        return int(text.replace(',', '')), 0.5
    match = re.fullmatch(r'(\d+(?:\.(\d+))?) ?([KMG])', text)
    assert match, f'not a count: {text!r}'
    scale = {'K': 1e3, 'M': 1e6, 'G': 1e9}[match.group(3)]
    return (float(match.group(1)) * scale,
            0.5 * 10**-len(match.group(2) or '') * scale)


def test_counts_match_the_family_pages():
    """Every config's backbone params and FLOPs (the counts the zoo page is
    made of; tests/tools/test_model_zoo_doc.py recounts a sample of them
    and checks the rest are current) equal its family page's row to the
    page's last digit."""
    data = model_zoo.load_data()
    facts = model_zoo.read_json(model_zoo.MEASURED_FILE, {})['facts']
    wrong = []
    for name, entry in data['variants'].items():
        spec = model_zoo.check_spec(data, name)
        row = model_zoo.find_row(entry['page'], entry['row'])
        ours = facts[name]
        for what, column, value, slack in (
                ('params', spec['params'], ours['backbone_params'], 0),
                ('FLOPs', spec['flops'], ours[spec['flops_of'] + '_flops'],
                 spec.get('flops_slack', 0))):
            documented, half_unit = _parse(row[column])
            if abs(documented - value) > half_unit * 1.0001 + slack:
                wrong.append(f'{name}: {what} {value:,} counted, '
                             f'{row[column]!r} in {entry["page"]}.md')
    assert not wrong, '\n'.join(wrong)
    assert len(data['variants']) == len(model_zoo.zoo_configs()) > 100


def test_main_prints_backbone_and_model(capsys):
    result = get_flops.main(['configs/shufflenet_v2.py', '--shape', '64'])
    out = capsys.readouterr().out
    assert 'Input shape: (3, 64, 64)' in out
    assert result.backbone_params == 1253604
    for part, params, flops in (
            ('backbone', result.backbone_params, result.backbone_flops),
            ('model', result.model_params, result.model_flops)):
        line = next(x for x in out.splitlines() if f'| {part} ' in x)
        assert get_flops._size(params) in line
        assert get_flops._size(flops) in line
    assert result.model_flops > result.backbone_flops > 0
    # The meta counter and --deploy (RepVGG-style blocks only) agree here.
    meta = get_flops.main(['configs/shufflenet_v2.py', '--shape', '64',
                           '--counter', 'meta', '--deploy'])
    assert meta.model_flops == result.model_flops


def test_default_shape_is_the_test_crop(capsys):
    result = get_flops.main(['configs/inception_v3.py', '--counter', 'meta'])
    assert result.input_shape == (3, 299, 299)
    assert round(result.model_flops / 1e9, 2) == 5.73


@pytest.mark.parametrize('argv, message', [
    (['configs/resnet.py', '--shape', '1', '2', '3'], '--shape takes one'),
    (['configs/resnet.py', '--shape', '0'], '--shape takes one'),
    (['configs/nope.py'], 'config file not found'),
    (['configs/inception_v3.py', '--shape', '16', '--counter', 'meta'],
     'at least'),
])
def test_bad_input_is_one_message(argv, message, capsys):
    from mmbackbones.cli.common import call_tool
    assert call_tool(get_flops.main, argv, prog='get_flops.py',
                     bad_input=(ValueError, )) == 2
    err = capsys.readouterr().err
    assert message in err and 'Traceback' not in err


def test_tool_exit_status():
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, 'tools/analysis/get_flops.py', 'configs/resnet.py',
         '--shape', '7', '7', '7'], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert 'get_flops.py: error: --shape takes one' in proc.stderr
