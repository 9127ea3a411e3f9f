"""Every text-config snippet of README's downstream section and of
docs/downstream.md parses with the project's own ``_base_`` and builds our
backbone from that project's registry (its models need full mmcv, so the
project registries are marked imported, as in test_registry_lookup)."""
import importlib.util
import os.path as osp
import re
import textwrap

import pytest
from conftest import REPO_ROOT, run_tool


def python_blocks(path, start=None, end='\n## '):
    with open(osp.join(REPO_ROOT, path), encoding='utf-8') as f:
        text = f.read()
    if start is not None:
        text = text[text.index(start):]
        text = text[:text.index(end, 1)] if end in text[1:] else text
    return re.findall(r'```python\n(.*?)```', text, flags=re.S)


def text_config_blocks():
    blocks = python_blocks('README.md',
                           '## Use a backbone from mmdet, mmseg or mmpose')
    blocks += python_blocks('docs/downstream.md')
    return [b for b in blocks if b.startswith(('_base_', '# mm'))
            and '_base_ = ' in b]


SCRIPT = textwrap.dedent("""
    import sys
    from importlib import import_module
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope, init_default_scope
    for path in sys.argv[1:]:
        project = open(path).read().split("_base_ = ['")[1].split('::')[0]
        registry = import_module(f'{project}.registry')
        registry.MODELS._imported = True  # its models need full mmcv
        cfg = Config.fromfile(path)
        DefaultScope._instance_dict.clear()
        init_default_scope(project)
        backbone = registry.MODELS.build(cfg.model.backbone)
        neck = cfg.model.get('neck') or {}
        size = 64
        outs = backbone.eval()(torch.rand(1, 3, size, size))
        print(path, project, type(backbone).__name__,
              [o.shape[1] for o in outs], neck.get('in_channels'))
""")


def test_snippets_build_from_the_projects_registry(tmp_path):
    blocks = text_config_blocks()
    assert len(blocks) >= 4  # README's and one per project in the docs
    paths = []
    for i, block in enumerate(blocks):
        project = block.split("_base_ = ['")[1].split('::')[0]
        if importlib.util.find_spec(project) is None:
            continue
        path = tmp_path / f'snippet_{i}.py'
        path.write_text(block)
        paths.append(str(path))
    if not paths:
        pytest.skip('none of mmdet, mmseg, mmpose is installed')
    result = run_tool(['-c', SCRIPT, *paths], cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(paths)
    for line in lines:
        assert re.search(r' (ResNet|HRNet) \[', line), line
        # where the snippet sets the neck, it matches the backbone
        if not line.endswith('None'):
            channels, neck = line.split(' [', 1)[1].split('] ')
            assert f'[{channels}]' == neck, line
