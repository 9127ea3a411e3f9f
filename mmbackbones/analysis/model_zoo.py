"""docs/model_zoo.md and docs/model_zoo.png, generated from the configs.

Every ImageNet config (``configs/<family>.py`` and ``configs/<family>/*.py``,
found by :func:`mmbackbones.deploy.families.config_paths`; the demo excluded)
is one row. What the code can compute is computed:

* parameters of the backbone and of the whole model, counted on the meta
  device every time the page is generated;
* FLOPs (multiply-adds, :mod:`mmbackbones.analysis.complexity`) of the
  inference structure at the config's test resolution. Counting them runs
  each model once (~5-15 s a model on 2 cores), so they are kept in
  ``docs/model_zoo_data.measured.json`` with the model config's digest and
  the parameter counts they were made with; a config whose digest or counts
  changed is counted again when the page is regenerated, never shown stale.

What cannot be computed lives in ``docs/model_zoo_data.yaml``, written by
hand from the per-family pages (docs/model_zoo/<family>.md) and
/work/shared/reference_accuracy.md: the reference each variant is
equivalent to and the measured error against it, and the published top-1
with its source. Sources that are installed here (torchvision's weights
metadata, mmpretrain's ``metafile.yml``) are named by key and their number is
read from the package when the page is generated.

The plot (top-1 against GFLOPs and against CPU latency of the deploy form)
uses the latencies stored in the measured file with the date, command,
machine and load of the run (:func:`measure_latencies`), so regenerating it
does not re-measure.

Example:
    >>> from mmbackbones.analysis.model_zoo import zoo_configs
    >>> sorted(zoo_configs())[:2]
    ['bn_inception', 'bn_inception/bn_inception_nobias']
"""
import copy
import hashlib
import json
import os
import os.path as osp
import tempfile
from typing import Any, Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOCS = osp.join(ROOT, 'docs')
DATA_FILE = osp.join(DOCS, 'model_zoo_data.yaml')
MEASURED_FILE = osp.join(DOCS, 'model_zoo_data.measured.json')
DOC_FILE = osp.join(DOCS, 'model_zoo.md')
PLOT_FILE = osp.join(DOCS, 'model_zoo.png')
GENERATE_COMMAND = 'python tools/gen_model_zoo.py'

#: Config folders that are not ImageNet model-zoo entries.
EXCLUDED = ('demo', )


def zoo_configs() -> Dict[str, str]:
    """``{name: path}`` of every model-zoo config; ``name`` is the path
    under configs/ without ``.py`` (``'resnet'``, ``'resnet/resnet18'``)."""
    from mmbackbones.deploy.families import CONFIG_DIR, config_paths
    found = {}
    for pattern in ('*.py', osp.join('*', '*.py')):
        for path in config_paths(pattern):
            name = osp.splitext(osp.relpath(path, CONFIG_DIR))[0]
            parts = name.split(os.sep)
            if parts[0] not in EXCLUDED and not parts[0].startswith('_'):
                found[name.replace(os.sep, '/')] = path
    return found


def _jsonable(obj: Any) -> Any:
    """A config value as plain data (classes of pure-Python configs by
    their import path), for a digest that does not depend on ids."""
    if isinstance(obj, dict) or hasattr(obj, 'items'):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    module = getattr(obj, '__module__', '')
    return f'{module}.{getattr(obj, "__qualname__", repr(obj))}'


def model_digest(model_cfg: Any, shape) -> str:
    """A digest of a model config and input shape (what the FLOPs depend on
    besides the code)."""
    text = json.dumps([_jsonable(model_cfg), list(shape)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_facts(path: str) -> Dict[str, Any]:
    """What the page shows of a config that is cheap to compute: backbone
    type, test resolution, param counts (meta device) and the digest."""
    from mmengine.config import Config

    from mmbackbones.analysis.complexity import (config_complexity,
                                                 test_resolution)
    cfg = Config.fromfile(path)
    shape = test_resolution(cfg)
    counts = config_complexity(cfg, shape, flops=False)
    backbone_type = cfg.model.get('backbone', cfg.model)['type']
    return dict(
        backbone=_jsonable(backbone_type).split('.')[-1],
        resolution=list(shape),
        backbone_params=counts.backbone_params,
        model_params=counts.model_params,
        digest=model_digest(cfg.model, shape))


def count_flops_of(path: str, shape=None) -> Dict[str, int]:
    """Multiply-adds of a config's inference structure (re-parameterised
    blocks switched, BN kept) at ``shape`` (default: its test size)."""
    from mmbackbones.analysis.complexity import config_complexity
    counts = config_complexity(path, shape, reparameterize=True)
    return dict(backbone_flops=counts.backbone_flops,
                model_flops=counts.model_flops)


def read_json(path: str, default: Any) -> Any:
    if not osp.isfile(path):
        return default
    with open(path) as f:
        return json.load(f)


def write_atomic(path: str, data: bytes) -> None:
    """Write ``path`` via a temporary file and a rename (never half a
    file)."""
    folder = osp.dirname(osp.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str, data: Any) -> None:
    write_atomic(path, (json.dumps(data, indent=1, sort_keys=True) +
                        '\n').encode())


def stale_flops(facts: Dict[str, Dict[str, Any]],
                measured: Dict[str, Any]) -> List[str]:
    """Configs whose stored FLOPs were counted for another model config,
    shape or parameter count (or not at all)."""
    stored = measured.get('flops', {})
    stale = []
    for name, fact in facts.items():
        entry = stored.get(name)
        if not entry or any(entry.get(k) != fact[k]
                            for k in ('digest', 'backbone_params',
                                      'model_params')):
            stale.append(name)
    return stale


def update_flops(facts: Dict[str, Dict[str, Any]], measured: Dict[str, Any],
                 names: List[str], configs: Dict[str, str],
                 log=print) -> None:
    """Count the FLOPs of ``names`` and store them in ``measured``."""
    stored = measured.setdefault('flops', {})
    for i, name in enumerate(names):
        counts = count_flops_of(configs[name], facts[name]['resolution'])
        stored[name] = dict(
            {k: facts[name][k]
             for k in ('digest', 'backbone_params', 'model_params')},
            **counts)
        log(f'[{i + 1}/{len(names)}] {name}: '
            f'{counts["model_flops"] / 1e9:.3f} GFLOPs')
    for name in list(stored):
        if name not in facts:
            del stored[name]
