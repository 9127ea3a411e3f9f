"""The model zoo in three lines: list the models, build one, load weights.

Every name comes from a config file, so the zoo cannot drift from the
configs (there is no second table to keep):

* ``configs/<family>/<variant>.py`` is ``<variant>``, lowercased, ``-`` as
  ``_`` (``configs/resnet/resnet50_v1d.py`` -> ``resnet50_v1d``);
* the family recipe ``configs/<family>.py`` is its default variant, named by
  the recipe's ``default_variant`` line (``configs/resnet.py`` ->
  ``resnet50``), read from the file's source without running it;
* the demo ``configs/demo/shufflenet_v2_digits.py`` is
  ``shufflenet_v2_digits``.

Example:
    >>> import torch, mmbackbones
    >>> mmbackbones.list_models('resnet5*')[:3]
    ['resnet50', 'resnet50_v1c', 'resnet50_v1d']
    >>> model = mmbackbones.get_model('resnet18', head=dict(num_classes=10))
    >>> model(torch.rand(1, 3, 64, 64), mode='tensor').shape
    torch.Size([1, 10])
"""
import ast
import difflib
import fnmatch
import os
import os.path as osp
import warnings
from typing import Any, Dict, List, Mapping, Optional, Tuple

CONFIG_ROOT = osp.join(osp.dirname(osp.abspath(__file__)), 'configs')
#: The variable of a family recipe that names its default variant.
DEFAULT_VARIANT_KEY = 'default_variant'

_cache: Dict[str, Tuple[Tuple[str, float], ...]] = {}
_names: Dict[str, Dict[str, str]] = {}


def _name_of_file(stem: str) -> str:
    return stem.lower().replace('-', '_')


def _recipe_name(path: str) -> str:
    """The ``default_variant = '...'`` string a recipe assigns at module
    level (its own line, not an inherited one)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == DEFAULT_VARIANT_KEY
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            return _name_of_file(node.value.value)
    raise ValueError(
        f'the family recipe {path} has no module-level '
        f"{DEFAULT_VARIANT_KEY} = '<name>' line: add one naming the variant "
        "it trains (e.g. default_variant = 'resnet50')")


def _config_files(root: str) -> List[str]:
    """Recipes (``root/<family>.py``) and variants (``root/<dir>/<v>.py``),
    without ``_base_`` and package ``__init__`` files."""
    files = []
    for entry in sorted(os.listdir(root)):
        path = osp.join(root, entry)
        if entry.startswith(('_', '.')):
            continue
        if entry.endswith('.py'):
            files.append(path)
        elif osp.isdir(path):
            files += [osp.join(path, f) for f in sorted(os.listdir(path))
                      if f.endswith('.py') and not f.startswith('_')]
    return files


def _registry(root: str = CONFIG_ROOT) -> Dict[str, str]:
    """``{name: config path}``, re-read when a config file changes."""
    files = _config_files(root)
    stamp = tuple((p, osp.getmtime(p)) for p in files)
    if _cache.get(root) == stamp and root in _names:
        return _names[root]
    names: Dict[str, str] = {}
    for path in files:
        is_recipe = osp.dirname(path) == root
        name = (_recipe_name(path) if is_recipe else _name_of_file(
            osp.splitext(osp.basename(path))[0]))
        if name in names:
            raise ValueError(
                f'two configs have the model name {name!r}: {names[name]} '
                f'and {path}; rename one')
        names[name] = path
    _cache[root] = stamp
    _names[root] = names
    return names


def list_models(pattern: Optional[str] = None) -> List[str]:
    """The model names, one per config, sorted.

    Args:
        pattern: An ``fnmatch`` pattern (``'resnet*'``, ``'*_v1d'``);
            ``None`` lists all.

    Returns:
        The matching names (an empty list when none match).

    Example:
        >>> list_models('hrnet_w1*')
        ['hrnet_w18']
    """
    if pattern is not None and not isinstance(pattern, str):
        raise TypeError(f'pattern must be a string such as "resnet*" or '
                        f'None, got {type(pattern).__name__}')
    names = sorted(_registry())
    if pattern is None:
        return names
    return [n for n in names if fnmatch.fnmatchcase(n, pattern.lower())]


def model_config(name: str) -> str:
    """The config file of a model name (what ``tools/*.py`` take).

    A path to an existing ``.py`` file is returned as it is, so tools can
    take either.

    Raises:
        ValueError: an unknown name; the message lists the closest names.

    Example:
        >>> osp.relpath(model_config('resnet50'), CONFIG_ROOT)
        'resnet.py'
    """
    if not isinstance(name, str):
        raise TypeError(f'name must be a model name (see list_models()) or '
                        f'a config path, got {type(name).__name__}')
    if name.endswith('.py'):
        if not osp.isfile(name):
            raise ValueError(f'config file not found: {name}')
        return name
    names = _registry()
    key = _name_of_file(name)
    if key in names:
        return names[key]
    close = difflib.get_close_matches(key, list(names), n=5, cutoff=0.5)
    hint = (f'; closest: {close}' if close else
            f'; {len(names)} models, e.g. {sorted(names)[:5]}')
    raise ValueError(f'unknown model name {name!r}{hint} (all names: '
                     'mmbackbones.list_models())')


def load_model_config(name: str):
    """The mmengine ``Config`` of a name or config path, with the top-level
    ``data_preprocessor`` moved into ``model`` as the Runner does."""
    from mmengine.config import Config
    cfg = Config.fromfile(model_config(name))
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg


def _merge_overrides(cfg, overrides: Mapping[str, Any]) -> None:
    if not overrides:
        return
    import inspect
    known = set(cfg.model.keys())
    mtype = cfg.model.get('type')
    if inspect.isclass(mtype):
        known |= set(inspect.signature(mtype.__init__).parameters) - {
            'self', 'args', 'kwargs'}
    unknown = [k for k in overrides if k not in known]
    if unknown:
        raise ValueError(f'unknown model key(s) {unknown}: overrides are '
                         f"merged into the config's model, whose keys are "
                         f'{sorted(known)}')
    # mmengine's merge: nested dicts update key by key; _delete_=True
    # replaces a dict.
    cfg.merge_from_dict({'model': dict(overrides)})


def _head_state(state: Mapping[str, Any], head) -> Dict[str, Any]:
    """The source's classifier layers for a head of linear layers, matched
    by shape: each 2-D weight of the head to the one source tensor of that
    shape (a 1x1 convolution's ``(C, K, 1, 1)`` counts as ``(C, K)``), with
    the bias beside it. Empty when the match is not unique: then the head is
    not loaded (and :func:`get_model` says so)."""
    import torch
    ours = head.state_dict()
    if not ours:
        return {}
    out = {}
    used = set()
    for key, value in ours.items():
        if not key.endswith('.weight') or value.dim() != 2:
            if key.endswith('.bias') and key[:-len('bias')] + 'weight' in ours:
                continue  # taken with its weight
            return {}
        matches = [k for k, v in state.items() if isinstance(
            v, torch.Tensor) and k.endswith('weight') and k not in used
            and v.dim() in (2, 4) and v.shape[:2] == value.shape
            and v[0].numel() == value.shape[1]]
        if len(matches) != 1:
            return {}
        theirs = matches[0]
        used.add(theirs)
        out[key] = state[theirs].reshape(value.shape)
        bias = key[:-len('weight')] + 'bias'
        if bias in ours:
            their_bias = theirs[:-len('weight')] + 'bias'
            if their_bias not in state or state[their_bias].shape != \
                    ours[bias].shape:
                return {}
            out[bias] = state[their_bias]
    return out


def _load_weights(model, weights: str, source: Optional[str],
                  backbone_only: bool) -> Dict[str, Any]:
    """Load ``weights`` into ``model`` strictly; returns the checkpoint's
    ``meta`` (``dataset_meta`` is where the class names are)."""
    from mmbackbones.converters import (SOURCES, convert_state_dict,
                                        unwrap_state_dict)
    from mmbackbones.converters.base import describe_mismatch
    from mmbackbones.engine.checkpoint import load_checkpoint_file
    if source is not None and source not in SOURCES:
        raise ValueError(f'source must be one of {SOURCES} or None (a '
                         f'checkpoint of ours), got {source!r}')
    checkpoint = load_checkpoint_file(weights)
    meta = checkpoint.get('meta') if isinstance(checkpoint.get('meta'),
                                                dict) else {}
    state = unwrap_state_dict(checkpoint)
    backbone = getattr(model, 'backbone', model) if not backbone_only \
        else model
    if source is None:
        if backbone_only and any(k.startswith('backbone.') for k in state):
            state = {k[len('backbone.'):]: v for k, v in state.items()
                     if k.startswith('backbone.')}
        expected = model.state_dict()
        problem = describe_mismatch(state, expected)
        if problem:
            shared = len(set(state) & set(expected))
            differ = (set(state) ^ set(expected)) | {
                k for k in set(state) & set(expected)
                if state[k].shape != expected[k].shape}
            if all(k.startswith('head.') for k in differ):
                hint = ('. Only the head differs: to fine-tune, train with '
                        "load_from (the head may differ there) or take "
                        'the backbone: backbone_only=True')
            elif shared > len(expected) // 2:
                hint = ''
            else:
                hint = (". Weights in torchvision's, timm's or another "
                        "project's layout need source='torchvision' (or "
                        "'timm', 'mmpretrain', ...)")
            raise ValueError(
                f'{weights} does not fit this model: {problem}{hint}')
        model.load_state_dict(state, strict=True)
        return meta
    converted = convert_state_dict(state, source, backbone)
    backbone.load_state_dict(converted, strict=True)
    head = getattr(model, 'head', None) if not backbone_only else None
    if head is not None and head.state_dict():
        from mmbackbones.converters import available_sources
        if source in available_sources(head):
            head.load_state_dict(convert_state_dict(state, source, head),
                                 strict=True)
        else:
            head_state = _head_state(state, head)
            if head_state:
                head.load_state_dict(head_state, strict=True)
            else:
                warnings.warn(
                    f'{weights}: no classifier layer of the head\'s shape '
                    f'found, so only the backbone was loaded from {source}; '
                    'the head keeps its initial (random) weights',
                    UserWarning, stacklevel=3)
    return meta


def get_model(name: str,
              weights: Optional[str] = None,
              source: Optional[str] = None,
              backbone_only: bool = False,
              **overrides: Any):
    """Build a model of the zoo, optionally with local weights.

    Args:
        name: A name of :func:`list_models` (or a config path).
        weights: A local checkpoint: ours or mmpretrain's (loaded as it is,
            strictly), or torchvision's / timm's / ... with ``source``.
        source: Where ``weights`` come from when they are not in our layout
            (one of ``mmbackbones.converters.SOURCES``): the backbone is
            converted by ``mmbackbones.converters``; a classifier head of
            linear layers takes the source's classifier layer of the same
            shape (e.g. torchvision ResNet's ``fc``), else it keeps its
            initial weights and a warning says so.
        backbone_only: Return the backbone (``model.backbone`` of the
            recipe) instead of the classifier.
        **overrides: Merged into the config's ``model`` with mmengine's
            rules, e.g. ``head=dict(num_classes=10)`` or
            ``backbone=dict(out_indices=(0, 1, 2, 3))``.

    Returns:
        The model in eval mode: an mmpretrain ``ImageClassifier`` (or the
        backbone) whose ``dataset_meta`` holds the class names when the
        checkpoint or the config's test dataset has them.

    Raises:
        ValueError: unknown name (with the closest names), unknown source,
            weights that do not fit (the first mismatched keys).
        CheckpointError: an unreadable or unsafe checkpoint (it is read
            with ``weights_only=True``).

    Example:
        >>> model = get_model('resnet18', backbone_only=True)
        >>> [f.shape for f in model(torch.rand(1, 3, 64, 64))]
        [torch.Size([1, 512, 2, 2])]
    """
    if weights is None and source is not None:
        raise ValueError('source is the layout of weights: pass weights= '
                         '(a local checkpoint file) too')
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError('weights must be the path of a local checkpoint, '
                        f'got {type(weights).__name__}')
    from mmengine.registry import DefaultScope

    from mmbackbones.registry import MODELS
    cfg = load_model_config(name)
    _merge_overrides(cfg, overrides)
    spec = cfg.model.backbone if backbone_only else cfg.model
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'mmbackbones')):
        model = MODELS.build(spec)
    # No init_weights() here (as mmpretrain's get_model): the Runner
    # applies the config's init_cfg when it trains, and a model built under
    # torch.device('meta') cannot run it.
    meta: Dict[str, Any] = {}
    if weights is not None:
        meta = _load_weights(model, os.fspath(weights), source,
                             backbone_only)
    if not backbone_only:
        dataset_meta = dict(meta.get('dataset_meta') or {}) or \
            config_dataset_meta(cfg)
        if len(dataset_meta.get('classes') or ()) != num_classes(model):
            dataset_meta = {}  # e.g. head=dict(num_classes=10) on ImageNet
        # mmpretrain's get_model keeps it as _dataset_meta (its inferencer
        # reads that); ours is public too.
        model.dataset_meta = model._dataset_meta = dataset_meta
    return model.eval()


def num_classes(model) -> Optional[int]:
    """The classes a classifier predicts (its head's ``num_classes``), or
    ``None`` when the head does not say."""
    for part in ('head', 'backbone'):  # VGG's classifier is its backbone's
        value = getattr(getattr(model, part, None), 'num_classes', None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def config_dataset_meta(cfg) -> Dict[str, Any]:
    """``{'classes': ...}`` of the config's test (else val) dataset when
    its class declares them (``METAINFO``) or the config lists them;
    ``{}`` otherwise (e.g. a ``CustomDataset`` whose classes are its folder
    names: they are in a trained checkpoint's ``meta.dataset_meta``)."""
    for loader in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset') or {}
        while 'dataset' in dataset:  # wrappers
            dataset = dataset['dataset']
        if dataset.get('classes'):
            return dict(classes=tuple(dataset['classes']))
        dtype = dataset.get('type')
        if isinstance(dtype, str):
            from mmpretrain.registry import DATASETS
            dtype = DATASETS.get(dtype)
        classes = getattr(dtype, 'METAINFO', {}).get('classes')
        if classes:
            return dict(classes=tuple(classes))
    return {}


__all__ = ['list_models', 'get_model', 'model_config', 'load_model_config',
           'config_dataset_meta', 'num_classes']
