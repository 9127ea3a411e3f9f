"""Child registries of mmpretrain's, with scope ``mmbackbones``.

Configs that run with ``default_scope='mmbackbones'`` build our backbones
and still find everything mmpretrain (and mmengine) registers: classifiers,
necks, heads, losses, datasets, transforms, metrics, hooks, optimizers.

A child registry looks into its parents' tables but does not trigger their
lazy imports, so each child's ``locations`` lists the parent's own locations
first and then ours: building ``CustomDataset`` through the mmbackbones
scope imports ``mmpretrain.datasets`` exactly as mmpretrain's scope would.

Other projects (mmdet, mmseg, mmpose, mmaction2...) find ``mmbackbones.X``
too. mmengine 0.10.7's ``Registry.get`` looks a scoped key up in the
registry's own children and in the *root's direct children* only; ours are
grandchildren of the root (children of mmpretrain's), so from mmdet's
``MODELS`` the key ``mmbackbones.ResNet`` was not found. Each of our
registries therefore also has a :class:`_ScopeAlias` among the root's
children: a registry with our scope that holds nothing itself and answers
every lookup from ours. ``mmdet::model`` -> root ``model`` -> alias
``mmbackbones`` -> our ``MODELS`` (then mmpretrain's, as for our own
configs). mmengine's depth-first search for the registry of
``default_scope='mmbackbones'`` gets ours from the alias too. Plain
subclassing of mmengine's ``Registry``: nothing in mmengine is patched.
"""
from typing import List, Optional, Type

from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

SCOPE = 'mmbackbones'


class _ScopeAlias(Registry):
    """Our scope among the root registry's children, answering from
    ``target`` (our registry under mmpretrain's).

    Example:
        >>> from mmengine.registry import MODELS as ROOT
        >>> import mmbackbones  # noqa: F401 (registers the backbones)
        >>> ROOT.get('mmbackbones.ResNet').__module__
        'mmbackbones.models.backbones.resnet'
    """

    def __init__(self, target: Registry, root: Registry):
        self._target = target
        super().__init__(target.name, parent=root, scope=SCOPE)

    def get(self, key: str) -> Optional[Type]:
        return self._target.get(key)

    def _search_child(self, scope: str) -> Optional[Registry]:
        # Whoever searches the tree for our scope gets the real registry.
        return self._target if scope == SCOPE else None

    @property
    def module_dict(self) -> dict:
        return self._target.module_dict

    def __contains__(self, key: str) -> bool:
        return self._target.get(key) is not None

    def __len__(self) -> int:
        return len(self._target)

    def _register_module(self, module, module_name=None, force=False):
        raise TypeError(
            'register in mmbackbones.registry, not in its alias under the '
            f'root {self.name!r} registry')


#: Our registries: each is a child of mmpretrain's registry of the same
#: name (mmpretrain's batch augments -- Mixup, CutMix -- live in a root
#: registry of their own; a child with our scope lets ImageClassifier find
#: them without mmengine warning that the 'mmbackbones' scope has none).
NAMES = ('RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
         'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
         'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS',
         'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'TASK_UTILS',
         'METRICS', 'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS',
         'BATCH_AUGMENTS')
#: Where our own members of a registry are (imported on first lookup, after
#: the parent's own locations).
OWN_LOCATIONS = {
    'HOOKS': ('mmbackbones.engine', ),
    'OPTIM_WRAPPERS': ('mmbackbones.engine', ),
    'MODELS': ('mmbackbones.models', ),
}


def _child(name: str) -> Registry:
    """Our child of mmpretrain's registry ``name``, with the parent's
    locations first, then ours."""
    parent: Registry = getattr(mmpretrain_registry, name)
    locations: List[str] = (list(parent._locations) +
                            list(OWN_LOCATIONS.get(name, ())))
    child = Registry(
        parent.name, parent=parent, scope=SCOPE, locations=locations)
    root = parent._get_root_registry()
    if root is not parent and SCOPE not in root.children:
        _ScopeAlias(child, root)
    return child


# In the order of NAMES (tests/test_registry.py checks each against its
# parent).
(RUNNERS, RUNNER_CONSTRUCTORS, LOOPS, HOOKS, LOG_PROCESSORS, OPTIMIZERS,
 OPTIM_WRAPPERS, OPTIM_WRAPPER_CONSTRUCTORS, PARAM_SCHEDULERS, DATASETS,
 DATA_SAMPLERS, TRANSFORMS, MODELS, MODEL_WRAPPERS, WEIGHT_INITIALIZERS,
 TASK_UTILS, METRICS, EVALUATORS, VISUALIZERS, VISBACKENDS,
 BATCH_AUGMENTS) = [_child(name) for name in NAMES]

__all__ = ['SCOPE', 'NAMES', *NAMES]
