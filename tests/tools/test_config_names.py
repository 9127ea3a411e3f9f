"""Config files follow one naming rule, and leaf configs edit pipelines by
step type (configs/_base_/pipeline_steps.py), never by list index."""
import glob
import os.path as osp
import re

import pytest
from conftest import REPO_ROOT

from mmbackbones.configs._base_.pipeline_steps import (insert_before,
                                                       update_step)

CONFIG_DIR = osp.join(REPO_ROOT, 'mmbackbones', 'configs')
CONFIGS = sorted(
    osp.relpath(p, CONFIG_DIR)
    for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if osp.basename(p) != '__init__.py')


def test_names_are_lowercase_with_underscores():
    """configs/<family>.py and configs/<family>/<variant>.py: lowercase
    letters, digits and underscores (``repvgg-A0_deploy.py`` was not)."""
    bad = [path for path in CONFIGS
           if not all(re.fullmatch(r'[a-z0-9_]+', part)
                      for part in path[:-len('.py')].split(osp.sep))]
    assert bad == []


def test_every_documented_family_has_its_recipe():
    """docs/model_zoo/<family>.md and configs/<family>.py share the name
    (``darknet.md`` had ``darknet53.py``)."""
    docs = glob.glob(osp.join(REPO_ROOT, 'docs', 'model_zoo', '*.md'))
    families = sorted(osp.splitext(osp.basename(p))[0] for p in docs)
    missing = [f for f in families if f + '.py' not in CONFIGS]
    assert families and missing == []


def test_no_config_edits_a_pipeline_by_index():
    by_index = re.compile(r'pipeline\[\s*-?\d|pipeline\[\s*:|pipeline\[-')
    found = [path for path in CONFIGS if by_index.search(
        open(osp.join(CONFIG_DIR, path), encoding='utf-8').read())]
    assert found == []


def test_pipeline_steps_by_type():
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='mmpretrain.datasets.CenterCrop', crop_size=224),
                dict(type='PackInputs')]
    update_step(pipeline, 'CenterCrop', crop_size=128)
    insert_before(pipeline, 'PackInputs', dict(type='AutoAugment'))
    assert [step['type'].split('.')[-1] for step in pipeline] == [
        'LoadImageFromFile', 'CenterCrop', 'AutoAugment', 'PackInputs']
    assert pipeline[1]['crop_size'] == 128
    with pytest.raises(ValueError, match=r"0 ResizeEdge steps.*"
                       r"'LoadImageFromFile', 'CenterCrop'"):
        update_step(pipeline, 'ResizeEdge', scale=146)
    with pytest.raises(ValueError, match='2 CenterCrop steps'):
        update_step(pipeline + [dict(type='CenterCrop')], 'CenterCrop')
