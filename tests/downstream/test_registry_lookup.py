"""``type='mmbackbones.<Backbone>'`` resolves from every OpenMMLab 2.x
project's own registry after ``custom_imports``, and builds from each
project's own shipped config file with the backbone type swapped.

With mmcv-lite, mmdet/mmseg/mmpose's *registries* import but their
``models`` packages do not (they need full mmcv's compiled ops), and a
lookup in their registry first lazily imports their ``models``. The
scripts below therefore mark those registries as imported -- the lookup of
our key through their real registry tree is what is tested; the projects'
own models are tested in ``test_full_models.py`` where full mmcv exists.
Each case runs in a fresh process: registries are global and the import
order (ours before or after the project's) is part of what is tested.
"""
import importlib.util
import textwrap

import pytest
from conftest import run_tool

PROJECTS = {
    # project: (registry module, a config the project ships, its model
    # type, our backbone)
    'mmdet': ('mmdet.registry', 'mmdet::_base_/models/retinanet_r50_fpn.py',
              'RetinaNet', dict(type='mmbackbones.ResNet', depth=18,
                                out_indices=(0, 1, 2, 3), norm_eval=True)),
    'mmseg': ('mmseg.registry', 'mmseg::_base_/models/fcn_hr18.py',
              'EncoderDecoder', dict(type='mmbackbones.HRNet', arch='w18')),
    'mmpose': ('mmpose.registry',
               'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
               'td-hm_res50_8xb64-210e_coco-256x192.py',
               'TopdownPoseEstimator',
               dict(type='mmbackbones.ResNet', depth=18,
                    out_indices=(0, 1, 2, 3))),
}

SCRIPT = textwrap.dedent("""
    import os, sys
    from importlib import import_module
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope, init_default_scope
    ours_first, projects = sys.argv[1], eval(sys.argv[2])
    if ours_first == '1':
        import_module('mmbackbones')
    for project, (registry_name, config, _, backbone) in projects.items():
        registry = import_module(registry_name)
        # Their models need full mmcv's ops (see the module docstring).
        for name in ('MODELS', 'HOOKS'):
            getattr(registry, name)._imported = True
        # The text config a user writes: the project's own file as
        # _base_, our backbone swapped in (_delete_ drops the old
        # backbone's arguments).
        with open(f'{project}_config.py', 'w') as f:
            f.write('\\n'.join([
                f"_base_ = ['{config}']",
                "custom_imports = dict(imports=['mmbackbones'],",
                "                      allow_failed_imports=False)",
                f"model = dict(backbone=dict(_delete_=True, **{backbone!r}))"
            ]))
        cfg = Config.fromfile(f'{project}_config.py')  # runs custom_imports
        DefaultScope._instance_dict.clear()
        init_default_scope(project)
        cls = registry.MODELS.get(cfg.model.backbone.type)
        model = registry.MODELS.build(cfg.model.backbone)
        outs = model.eval()(torch.rand(1, 3, 64, 64))
        hook = registry.HOOKS.get('mmbackbones.SafeCheckpointHook')
        print(project, cfg.model.type, cls.__module__, cls.__name__,
              [tuple(o.shape) for o in outs][:2], hook.__name__)
""")


@pytest.mark.parametrize('ours_first', ['1', '0'])
def test_type_swap_in_the_projects_own_config(ours_first, tmp_path):
    projects = {
        name: value
        for name, value in PROJECTS.items()
        if importlib.util.find_spec(name) is not None
    }
    if not projects:
        pytest.skip('none of mmdet, mmseg, mmpose is installed')
    result = run_tool(['-c', SCRIPT, ours_first, repr(projects)],
                      cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for project, (_, _, model_type, backbone) in projects.items():
        name = backbone['type'].split('.')[1]
        first_two = {'ResNet': '[(1, 64, 16, 16), (1, 128, 8, 8)]',
                     'HRNet': '[(1, 18, 16, 16), (1, 36, 8, 8)]'}[name]
        # the project's model inherited, our class found and built with
        # the swapped config's out_indices, our hooks found too
        assert (f'{project} {model_type} mmbackbones.models.backbones.'
                f'{name.lower()} {name} {first_two} SafeCheckpointHook'
                in out), out


ROOTS = textwrap.dedent("""
    from mmengine.registry import MODELS as ROOT, Registry
    import mmbackbones
    import mmpretrain.registry
    # An mmaction2-style project: its own registry under the root.
    OTHER = Registry('model', parent=ROOT, scope='mmaction_like',
                     locations=[])
    for reg in (ROOT, OTHER, mmpretrain.registry.MODELS,
                mmbackbones.registry.MODELS):
        print(reg.scope, reg.get('mmbackbones.ResNetV1d').__name__,
              reg.get('mmbackbones.HRNet').__name__)
    # Our own scope still finds mmpretrain's parts by bare name.
    from mmengine.registry import init_default_scope
    init_default_scope('mmbackbones')
    with ROOT.switch_scope_and_registry(None) as reg:
        print('default', reg is mmbackbones.registry.MODELS,
              reg.get('ImageClassifier').__module__)
    model = ROOT.build(dict(type='ImageClassifier',
                            backbone=dict(type='ResNet', depth=18)))
    print('built', type(model.backbone).__module__)
""")


def test_scoped_key_from_root_mmpretrain_and_other_projects():
    result = run_tool(['-c', ROOTS])
    assert result.returncode == 0, result.stderr[-3000:]
    for scope in ('mmengine', 'mmaction_like', 'mmpretrain', 'mmbackbones'):
        assert f'{scope} ResNetV1d HRNet' in result.stdout
    assert 'default True mmpretrain.models.classifiers' in result.stdout
    assert 'built mmbackbones.models.backbones.resnet' in result.stdout
