"""Each registered backbone's default variant, for family-wide checks.

The default variant of a backbone class is the ``model.backbone`` of its
family recipe (``configs/<family>.py``), else of the first variant config
(``configs/<family>/*.py``) that uses the class, else its own defaults when
every constructor argument has one. The fusion and ONNX tests and
``tools/analysis/deploy_speed.py`` iterate over these, so a family that
lands later is covered without touching them.
"""
import copy
import functools
import glob
import inspect
import os
import re
from typing import Dict, Iterator, Optional, Tuple

from mmengine.config import Config

from mmbackbones.models.base import BaseBackbone

CONFIG_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')


def registered_backbones() -> Dict[str, type]:
    """Our backbone classes, by registry name."""
    from mmbackbones.registry import MODELS
    return {name: cls for name, cls in sorted(MODELS.module_dict.items())
            if inspect.isclass(cls) and issubclass(cls, BaseBackbone)}


def _type_name(obj_type) -> str:
    if isinstance(obj_type, str):
        return obj_type.split('.')[-1]
    return getattr(obj_type, '__name__', '')


def _natural_key(path: str) -> list:
    """Sort 'resnet50' before 'resnet101': the smallest variant first."""
    return [int(part) if part.isdigit() else part
            for part in re.split(r'(\d+)', path)]


def config_paths(pattern: str) -> Iterator[str]:
    """The config files matching ``pattern`` under CONFIG_DIR (``'*.py'``:
    the recipes, ``'*/*.py'``: the variants), smallest variant first."""
    for path in sorted(glob.glob(os.path.join(CONFIG_DIR, pattern)),
                       key=_natural_key):
        if not os.path.basename(path).startswith('_'):
            yield path


def _config_backbones(pattern: str) -> Iterator[Tuple[str, str, dict]]:
    """(class name, config path, backbone cfg) of each config matching."""
    for path in config_paths(pattern):
        try:
            backbone = Config.fromfile(path).model.backbone
        except Exception:  # not a classifier config, or broken (the config
            continue  # tests report broken ones)
        yield _type_name(backbone['type']), path, copy.deepcopy(
            backbone.to_dict())


def _builds_without_arguments(cls: type) -> bool:
    parameters = inspect.signature(cls).parameters.values()
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL,
                                                      p.VAR_KEYWORD)
               for p in parameters)


def default_variants() -> Dict[str, Optional[Tuple[str, dict]]]:
    """``{class name: (where, backbone cfg)}`` for every registered
    backbone; ``None`` when no default variant is known.

    ``where`` is the config path, or ``'defaults'``. The configs are read
    once per process (~150 files, seconds); each call returns a copy.
    """
    return copy.deepcopy(_default_variants(tuple(registered_backbones())))


@functools.lru_cache(maxsize=None)
def _default_variants(names: Tuple[str, ...]
                      ) -> Dict[str, Optional[Tuple[str, dict]]]:
    # (keyed on the registered names: a family registered later is seen)
    found: Dict[str, Tuple[str, dict]] = {}
    for pattern in ('*.py', os.path.join('*', '*.py')):
        for name, path, cfg in _config_backbones(pattern):
            found.setdefault(name, (path, cfg))
    variants: Dict[str, Optional[Tuple[str, dict]]] = {}
    for name, cls in registered_backbones().items():
        if name in found:
            variants[name] = found[name]
        elif _builds_without_arguments(cls):
            variants[name] = ('defaults', dict(type=name))
        else:
            variants[name] = None
    return variants
