"""Our child registries find mmpretrain's (and mmengine's) components by
name under default_scope='mmbackbones', triggering their lazy imports."""
import textwrap

from conftest import run_tool

SCRIPT = textwrap.dedent("""
    from mmengine.registry import init_default_scope
    import mmbackbones.registry as r
    init_default_scope('mmbackbones')
    found = {
        'ImageClassifier': r.MODELS.get('ImageClassifier'),
        'GlobalAveragePooling': r.MODELS.get('GlobalAveragePooling'),
        'LinearClsHead': r.MODELS.get('LinearClsHead'),
        'LabelSmoothLoss': r.MODELS.get('LabelSmoothLoss'),
        'ShuffleNetV2': r.MODELS.get('ShuffleNetV2'),
        'CustomDataset': r.DATASETS.get('CustomDataset'),
        'ImageNet': r.DATASETS.get('ImageNet'),
        'RandomResizedCrop': r.TRANSFORMS.get('RandomResizedCrop'),
        'PackInputs': r.TRANSFORMS.get('PackInputs'),
        'Accuracy': r.METRICS.get('Accuracy'),
        'VisualizationHook': r.HOOKS.get('VisualizationHook'),
        'SafeCheckpointHook': r.HOOKS.get('SafeCheckpointHook'),
        'SGD': r.OPTIMIZERS.get('SGD'),
        'CPUAutocastOptimWrapper':
            r.OPTIM_WRAPPERS.get('CPUAutocastOptimWrapper'),
        'CosineAnnealingLR': r.PARAM_SCHEDULERS.get('CosineAnnealingLR'),
        'EpochBasedTrainLoop': r.LOOPS.get('EpochBasedTrainLoop'),
        'DefaultSampler': r.DATA_SAMPLERS.get('DefaultSampler'),
    }
    missing = [k for k, v in found.items() if v is None]
    print('missing', missing)
    print('scope', r.MODELS.scope, r.MODELS.parent.scope)
    model = r.MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='ShuffleNetV2', widen_factor=0.5),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=1024)))
    print('built', type(model.backbone).__module__)
""")


def test_child_registries_find_parent_components_by_name():
    # A fresh process: nothing of mmpretrain.datasets/evaluation/engine is
    # imported before the lookups, so the registries' locations must do it.
    result = run_tool(['-c', SCRIPT])
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'missing []' in result.stdout
    assert 'scope mmbackbones mmpretrain' in result.stdout
    assert 'built mmbackbones.models.backbones.shufflenet_v2' in result.stdout


def test_each_registry_is_the_child_of_mmpretrains_of_its_name():
    """registry.py builds its 21 registries from one list of names: each
    name is bound to the child of mmpretrain's registry of that name (an
    order slip would give e.g. MODELS the parent DATASETS), with scope
    mmbackbones and our own locations after the parent's."""
    from mmpretrain import registry as parents

    import mmbackbones.registry as ours
    assert len(set(ours.NAMES)) == len(ours.NAMES) == 21
    assert set(ours.OWN_LOCATIONS) <= set(ours.NAMES)
    for name in ours.NAMES:
        child, parent = getattr(ours, name), getattr(parents, name)
        assert child.parent is parent, name
        assert (child.scope, child.name) == ('mmbackbones', parent.name)
        assert list(child._locations) == list(parent._locations) + list(
            ours.OWN_LOCATIONS.get(name, ())), name
    assert ours.MODELS._locations[-1] == 'mmbackbones.models'
    assert set(ours.__all__) == {'SCOPE', 'NAMES', *ours.NAMES}
