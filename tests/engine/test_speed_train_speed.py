"""tools/analysis/train_speed.py end to end at tiny sizes (the protocol
and what each side is; no speed number is asserted)."""
import json

import pytest

from mmbackbones.cli import train_speed
from mmbackbones.cli.common import call_tool
from mmbackbones.engine.allocator import _glibc

CONFIG = 'configs/shufflenet_v2/shufflenet_v2_0_5x.py'
TINY = ['--batch-size', '2', '--infer-batch', '2', '--shape', '32',
        '--rounds', '1', '--warmup', '0', '--threads', '1']


def test_train_against_mmpretrain_and_self(tmp_path, monkeypatch):
    # Another test's in-process tools/train.py run may have set it here;
    # the processes below inherit this environment.
    monkeypatch.delenv('THP_MEM_ALLOC_ENABLE', raising=False)
    out = tmp_path / 'r.json'
    result = train_speed.main([CONFIG, *TINY, '--memory-format',
                               'channels_last', '--json', str(out)])
    s = result['settings']
    assert s['reference'] == 'mmpretrain:ShuffleNetV2'
    assert s['ours'].startswith('channels_last')
    assert s['params']['ours'] == s['params']['reference']  # same network
    assert result['ours_images_per_s'] > 0
    assert result['speedup'] == pytest.approx(
        result['reference_median_ms'] / result['ours_median_ms'])
    assert json.loads(out.read_text())['speedup'] == pytest.approx(
        result['speedup'])
    # Each side in its own process, set up as its own tools/train.py does:
    # ours with the allocator set-up, mmpretrain's as Python starts.
    assert s['processes'] == 'separate'
    assert s['allocator']['ours']['keep_freed_memory'] is (
        _glibc() is not None)
    assert s['allocator']['reference'] == dict(keep_freed_memory=False,
                                               huge_pages=False)
    result = train_speed.main([CONFIG, *TINY, '--against', 'self'])
    assert result['settings']['reference'] == 'self'
    assert result['settings']['processes'] == 'one'  # only the flag differs


def test_infer_deploy_form_against_the_reference():
    result = train_speed.main([CONFIG, *TINY, '--mode', 'infer',
                               '--against', 'torchvision', '--reference',
                               'torchvision:shufflenet_v2_x0_5'])
    assert set(result) == {'settings', 'batch_1', 'batch_2'}
    assert result['batch_1']['ours_ms'] > 0


def test_references_that_do_not_fit_are_refused(capsys):
    # torchvision has no ShuffleNetV2 reference by --against timm...
    assert call_tool(train_speed.main, [CONFIG, *TINY, '--against', 'timm'],
                     prog='train_speed.py',
                     bad_input=(ValueError, )) == 2
    assert 'no timm reference is known' in capsys.readouterr().err
    # ... and another network's features are not the same shape.
    assert call_tool(train_speed.main, [CONFIG, *TINY, '--reference',
                                        'torchvision:resnet18',
                                        '--processes', 'one'],
                     prog='train_speed.py', bad_input=(ValueError, )) == 2
    assert 'not the same variant' in capsys.readouterr().err
    assert call_tool(train_speed.main, [CONFIG, *TINY, '--mode', 'infer',
                                        '--processes', 'separate'],
                     prog='train_speed.py', bad_input=(ValueError, )) == 2
    assert '--processes separate is for --mode train' in \
        capsys.readouterr().err


def test_tapped_auxiliary_heads_meet_the_references_main_head():
    from mmbackbones.cli.common import load_config
    for config, neck, head in (
            ('configs/inception_v3.py', None, dict(type='ClsHead')),
            ('configs/googlenet.py', dict(type='GlobalAveragePooling'),
             dict(type='LinearClsHead', in_channels=1024, num_classes=1000))):
        model = load_config(config).model
        ours_head = dict(model['head'])
        train_speed._main_head_only(model)
        assert model['neck'] == neck
        assert dict(model['head'], **head) == model['head']
        assert model['head']['loss'] == ours_head['loss']  # same loss
    resnet = load_config('configs/resnet.py').model
    before = dict(resnet)
    train_speed._main_head_only(resnet)
    assert resnet == before  # a plain head is left as it is


def test_a_side_process_error_is_raised_in_the_parent():
    """What a side's process sends back (``_side_process``) over a real
    pipe: bad input stays a ValueError (exit 2), anything else names its
    type; a process that died without a reply is named."""
    import multiprocessing
    parent, child = multiprocessing.Pipe()
    child.send(('error', ('ValueError', 'reference process: not the same '
                          'variant')))
    with pytest.raises(ValueError, match='not the same variant'):
        train_speed._reply(parent, 'reference')
    child.send(('error', ('KeyError', 'ours process: boom')))
    with pytest.raises(RuntimeError, match='KeyError: ours process: boom'):
        train_speed._reply(parent, 'ours')
    child.send(('ready', {'a': 1}))
    assert train_speed._reply(parent, 'ours') == {'a': 1}
    child.close()
    with pytest.raises(RuntimeError, match='the ours process ended'):
        train_speed._reply(parent, 'ours')
