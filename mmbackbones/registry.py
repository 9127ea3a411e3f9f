"""Child registries of mmpretrain's, with scope ``mmbackbones``.

Configs that run with ``default_scope='mmbackbones'`` build our backbones
and still find everything mmpretrain (and mmengine) registers: classifiers,
necks, heads, losses, datasets, transforms, metrics, hooks, optimizers.

A child registry looks into its parents' tables but does not trigger their
lazy imports, so each child's ``locations`` lists the parent's own locations
first and then ours: building ``CustomDataset`` through the mmbackbones
scope imports ``mmpretrain.datasets`` exactly as mmpretrain's scope would.
"""
from typing import List

from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

SCOPE = 'mmbackbones'


def _child(parent: Registry, *own_locations: str) -> Registry:
    locations: List[str] = list(parent._locations) + list(own_locations)
    return Registry(
        parent.name, parent=parent, scope=SCOPE, locations=locations)


RUNNERS = _child(mmpretrain_registry.RUNNERS)
RUNNER_CONSTRUCTORS = _child(mmpretrain_registry.RUNNER_CONSTRUCTORS)
LOOPS = _child(mmpretrain_registry.LOOPS)
HOOKS = _child(mmpretrain_registry.HOOKS, 'mmbackbones.engine')
LOG_PROCESSORS = _child(mmpretrain_registry.LOG_PROCESSORS)
OPTIMIZERS = _child(mmpretrain_registry.OPTIMIZERS)
OPTIM_WRAPPERS = _child(mmpretrain_registry.OPTIM_WRAPPERS,
                        'mmbackbones.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child(mmpretrain_registry.PARAM_SCHEDULERS)
DATASETS = _child(mmpretrain_registry.DATASETS)
DATA_SAMPLERS = _child(mmpretrain_registry.DATA_SAMPLERS)
TRANSFORMS = _child(mmpretrain_registry.TRANSFORMS)
MODELS = _child(mmpretrain_registry.MODELS, 'mmbackbones.models')
MODEL_WRAPPERS = _child(mmpretrain_registry.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child(mmpretrain_registry.WEIGHT_INITIALIZERS)
TASK_UTILS = _child(mmpretrain_registry.TASK_UTILS)
METRICS = _child(mmpretrain_registry.METRICS)
EVALUATORS = _child(mmpretrain_registry.EVALUATORS)
VISUALIZERS = _child(mmpretrain_registry.VISUALIZERS)
VISBACKENDS = _child(mmpretrain_registry.VISBACKENDS)
# mmpretrain's batch augments (Mixup, CutMix) live in a root registry of its
# own; a child with our scope lets ImageClassifier find them without
# mmengine warning that the 'mmbackbones' scope has no such registry.
BATCH_AUGMENTS = _child(mmpretrain_registry.BATCH_AUGMENTS)

__all__ = [
    'SCOPE', 'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS',
    'LOG_PROCESSORS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'DATASETS',
    'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS',
    'WEIGHT_INITIALIZERS', 'TASK_UTILS', 'METRICS', 'EVALUATORS',
    'VISUALIZERS', 'VISBACKENDS', 'BATCH_AUGMENTS'
]
