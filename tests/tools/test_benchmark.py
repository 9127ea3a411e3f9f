"""tools/analysis/benchmark.py works end to end (tiny sizes: seconds)."""
import json
import os
import subprocess
import sys

import pytest
import torch

REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO_ROOT, 'tools', 'analysis', 'benchmark.py')
CONFIG = os.path.join(REPO_ROOT, 'configs', 'shufflenet_v2',
                      'shufflenet_v2_0_5x.py')


def load_tool():
    # tools/analysis/benchmark.py is a shim over this module.
    from mmbackbones.cli import benchmark
    return benchmark


def test_runs_and_prints_a_ratio(tmp_path):
    out_json = tmp_path / 'result.json'
    proc = subprocess.run(
        [sys.executable, TOOL, CONFIG, '--reference',
         'torchvision:shufflenet_v2_x0_5', '--batch', '2', '--size', '32',
         '--steps', '2', '--warmup', '1', '--threads', '1', '--json',
         str(out_json)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'ratio ours/reference' in proc.stdout
    result = json.loads(out_json.read_text())
    # Both models, both memory formats, the requested number of steps.
    assert sorted((r['model'], r['memory_format'])
                  for r in result['results']) == [
                      ('ours', 'channels_last'),
                      ('ours', 'contiguous_format'),
                      ('reference', 'channels_last'),
                      ('reference', 'contiguous_format')]
    assert all(r['steps'] == 2 for r in result['results'])
    assert result['ratio'] > 0
    ratio_line = [line for line in proc.stdout.splitlines()
                  if line.startswith('ratio ours/reference')][0]
    assert float(ratio_line.split()[-1]) == pytest.approx(result['ratio'],
                                                          abs=1e-3)
    # The reference is torchvision's backbone part only (no fc): the same
    # parameters as ours.
    assert result['params']['ours'] == result['params']['reference']


def test_parse_spec():
    tool = load_tool()
    assert tool.parse_spec('timm:resnetv2_50') == ('timm', 'resnetv2_50', {})
    assert tool.parse_spec(
        "mmpretrain:ResNet:depth=50,out_indices=(2, 3),style='pytorch'") == (
            'mmpretrain', 'ResNet',
            dict(depth=50, out_indices=(2, 3), style='pytorch'))
    for bad in ('resnet50', 'timm:', 'timm:x:depth=', 'timm:x:50',
                'timm:x:depth=len(1)'):
        with pytest.raises(ValueError):
            tool.parse_spec(bad)
    with pytest.raises(ValueError, match='unknown reference source'):
        tool.build_reference('caffe:vgg16')


def test_reference_features_and_train_step():
    tool = load_tool()
    mobilenet = tool.build_reference('torchvision:mobilenet_v3_small')
    assert mobilenet[-1][0].out_channels == 576  # .features, no classifier
    resnet = tool.build_reference('torchvision:resnet18').eval()
    assert resnet(torch.rand(1, 3, 32, 32)).shape == (1, 512, 1, 1)
    timm_model = tool.build_reference('timm:resnet18').eval()
    assert timm_model(torch.rand(1, 3, 32, 32)).shape == (1, 512, 1, 1)
    mm = tool.build_reference('mmpretrain:ResNet:depth=18,out_indices=(2,3)')
    from mmbackbones.analysis import timing
    step = timing.make_step(mm, torch.rand(2, 3, 32, 32), 'train', lambda: 0)
    step()
    assert all(p.grad is not None for p in mm.parameters())


def test_deploy_speed_times_the_deploy_form_against_the_training_form(
        tmp_path):
    """tools/analysis/deploy_speed.py and tools/deploy.py time through the
    one routine, benchmark.deploy_speedup (neutral labels: original,
    deployed)."""
    from mmbackbones.cli import deploy_speed
    out = tmp_path / 'speed.json'
    results = deploy_speed.main([
        'RepVGG', '--batch', '1', '--size', '32', '--steps', '2',
        '--warmup', '0', '--threads', '1', '--json', str(out)])
    row = results['RepVGG']
    assert row['reparameterized'] > 0
    formats = {'contiguous_format', 'channels_last'}
    assert {row['original_format'], row['deployed_format']} <= formats
    assert row['speedup'] == pytest.approx(
        row['original_ms'] / row['deployed_ms'])
    assert row['fastest_speedup'] > 0
    assert json.loads(out.read_text())['results']['RepVGG'] == row
