"""Using mmbackbones from another OpenMMLab project, from a folder outside
this repository, with only the installed package."""
import os
import os.path as osp
import re
import subprocess
import sys
import textwrap

import mmpretrain
import pytest
from conftest import REPO_ROOT, run_tool

MMPRETRAIN_TRAIN = osp.join(
    osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')


def _image_folder(root):
    import numpy as np
    from PIL import Image
    for label in ('cat', 'dog'):
        os.makedirs(osp.join(root, label), exist_ok=True)
        for i in range(2):
            pixels = (np.random.rand(40, 40, 3) * 255).astype('uint8')
            Image.fromarray(pixels).save(osp.join(root, label, f'{i}.png'))


def test_custom_imports_in_an_mmpretrain_config(tmp_path):
    """(a) mmpretrain's own train.py builds type='mmbackbones.ShuffleNetV2'
    inside its ImageClassifier after custom_imports, and trains."""
    _image_folder(str(tmp_path / 'images'))
    (tmp_path / 'downstream.py').write_text(textwrap.dedent("""
        custom_imports = dict(imports=['mmbackbones'],
                              allow_failed_imports=False)
        default_scope = 'mmpretrain'
        model = dict(
            type='ImageClassifier',
            backbone=dict(type='mmbackbones.ShuffleNetV2', widen_factor=0.5,
                          frozen_stages=1),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=2, in_channels=1024,
                      loss=dict(type='CrossEntropyLoss')))
        data_preprocessor = dict(num_classes=2, mean=[128] * 3,
                                 std=[64] * 3, to_rgb=True)
        train_dataloader = dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            dataset=dict(type='CustomDataset', data_root='images',
                         pipeline=[dict(type='LoadImageFromFile'),
                                   dict(type='RandomResizedCrop', scale=32),
                                   dict(type='PackInputs')]),
            sampler=dict(type='DefaultSampler', shuffle=True))
        train_cfg = dict(by_epoch=True, max_epochs=1)
        optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01))
        default_hooks = dict(checkpoint=dict(type='CheckpointHook',
                                             interval=1),
                             logger=dict(type='LoggerHook', interval=1))
        env_cfg = dict(dist_cfg=dict(backend='gloo'))
    """))
    result = run_tool([MMPRETRAIN_TRAIN, 'downstream.py', '--work-dir',
                       'work'], cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
    assert 'loss:' in result.stdout + result.stderr


@pytest.fixture(scope='module')
def installed_copy(tmp_path_factory):
    """This checkout installed for real (a regular, non-editable install
    into a private folder): mmengine finds installed configs through the
    distribution's location, which an editable install does not have."""
    site = tmp_path_factory.mktemp('site')
    install = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
         '--no-build-isolation', '--target', str(site), REPO_ROOT],
        capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    return site


def test_inherit_installed_config_with_read_base(tmp_path, installed_copy):
    """(b) a pure-Python config inherits our ShuffleNetV2 model and
    schedule from the installed package and overrides one value."""
    site = installed_copy
    (tmp_path / 'child.py').write_text(textwrap.dedent("""
        from mmengine.config import read_base

        with read_base():
            from mmbackbones.configs.shufflenet_v2 import *

        model.update(backbone=dict(model['backbone'], widen_factor=0.5))
    """))
    (tmp_path / 'check.py').write_text(textwrap.dedent("""
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmpretrain.registry import MODELS
        cfg = Config.fromfile('child.py')
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.model)
        print('widen', model.backbone.widen_factor)
        print('epochs', cfg.train_cfg.max_epochs)
        print('smooth', cfg.model.head.loss.label_smooth_val)
        print('module', type(model.backbone).__module__)
        import mmbackbones
        print('from', mmbackbones.__file__)
    """))
    result = run_tool(['check.py'], cwd=str(tmp_path),
                      env=dict(PYTHONPATH=str(site)))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert 'widen 0.5' in out  # the override
    assert 'epochs 300' in out  # our schedule, inherited
    assert 'smooth 0.1' in out  # our model, inherited
    assert 'module mmbackbones.models.backbones' in out
    assert f'from {site}' in out  # the installed copy, not this checkout


def _readme_block(marker: str) -> str:
    with open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8') as f:
        blocks = re.findall(r'```python\n(.*?)```', f.read(), flags=re.S)
    return next(b for b in blocks if marker in b)


def test_pure_python_detector_config_takes_our_backbone(tmp_path,
                                                        installed_copy):
    """README's second read_base() snippet: a pure-Python config takes our
    backbone part; mmdet's registry builds it (mmdet's own models need full
    mmcv, so its registry is marked imported)."""
    pytest.importorskip('mmdet')
    (tmp_path / 'det.py').write_text(
        _readme_block('as classifier') + textwrap.dedent("""
        model = dict(type='RetinaNet', backbone=backbone)
    """))
    (tmp_path / 'check.py').write_text(textwrap.dedent("""
        import torch
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmdet.registry import MODELS
        MODELS._imported = True
        cfg = Config.fromfile('det.py')
        init_default_scope('mmdet')
        backbone = MODELS.build(cfg.model.backbone)
        print('built', type(backbone).__module__, backbone.depth,
              backbone.out_indices, backbone.norm_eval)
    """))
    result = run_tool(['check.py'], cwd=str(tmp_path),
                      env=dict(PYTHONPATH=str(installed_copy)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert ('built mmbackbones.models.backbones.resnet 50 (0, 1, 2, 3) '
            'True') in result.stdout


def test_docs_pure_python_snippets_build(tmp_path, installed_copy):
    """Each read_base() snippet of docs/downstream.md (one per project)
    parses against the installed package and its backbone builds from
    that project's registry."""
    with open(osp.join(REPO_ROOT, 'docs', 'downstream.md'),
              encoding='utf-8') as f:
        blocks = [b for b in re.findall(r'```python\n(.*?)```', f.read(),
                                        flags=re.S) if 'read_base' in b]
    assert len(blocks) == 3
    paths = []
    for i, block in enumerate(blocks):
        project = block.split(':', 1)[0].lstrip('# ')
        pytest.importorskip(project)
        path = tmp_path / f'{project}_snippet.py'
        path.write_text(block)
        paths.append(str(path))
    (tmp_path / 'check.py').write_text(textwrap.dedent("""
        import sys
        from importlib import import_module
        import torch
        from mmengine.config import Config
        from mmengine.registry import DefaultScope, init_default_scope
        for path in sys.argv[1:]:
            project = path.rsplit('/', 1)[1].split('_')[0]
            registry = import_module(f'{project}.registry')
            registry.MODELS._imported = True  # its models need full mmcv
            cfg = Config.fromfile(path)
            DefaultScope._instance_dict.clear()
            init_default_scope(project)
            backbone = registry.MODELS.build(cfg.backbone)
            outs = backbone.eval()(torch.rand(1, 3, 64, 64))
            print(project, type(backbone).__name__,
                  [o.shape[1] for o in outs])
    """))
    result = run_tool(['check.py', *paths], cwd=str(tmp_path),
                      env=dict(PYTHONPATH=str(installed_copy)))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert 'mmdet ResNet [256, 512, 1024, 2048]' in out
    assert 'mmseg HRNet [18, 36, 72, 144]' in out
    assert 'mmpose ResNet [2048]' in out
