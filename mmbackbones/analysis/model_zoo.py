"""docs/model_zoo.md and docs/model_zoo.png, generated from the configs.

Every ImageNet config (``configs/<family>.py`` and ``configs/<family>/*.py``,
found by :func:`mmbackbones.deploy.families.config_paths`; the demo excluded)
is one row. What the code can compute is computed:

* parameters of the backbone and of the whole model, counted on the meta
  device;
* FLOPs (multiply-adds, :mod:`mmbackbones.analysis.complexity`) of the
  inference structure at the config's test resolution, also on the meta
  device (:class:`~mmbackbones.analysis.complexity.MetaFlopCounter`, which
  gives mmengine's counts without running the model: all 144 configs in a
  few minutes on 2 loaded cores instead of over an hour with tracing).

Both are kept in ``docs/model_zoo_data.measured.json`` with a digest of
each config's model and test resolution (:func:`config_digest`);
regenerating recounts the configs whose digest changed (``--recount``: all).

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
import hashlib
import json
import os
import os.path as osp
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


def config_facts(path: str) -> Dict[str, Any]:
    """What the page computes of a config: backbone type, test resolution,
    params of the backbone and the whole model (as the config builds it),
    and FLOPs of both at that resolution in inference structure
    (re-parameterised blocks switched; :class:`MetaFlopCounter` on the meta
    device, equal to mmengine's counter)."""
    from mmengine.config import Config

    from mmbackbones.analysis.complexity import (config_complexity,
                                                 test_resolution)
    cfg = Config.fromfile(path)
    shape = test_resolution(cfg)
    params = config_complexity(cfg, shape, flops=False)
    flops = config_complexity(cfg, shape, reparameterize=True,
                              counter='meta')
    backbone_type = cfg.model.get('backbone', cfg.model)['type']
    return dict(
        backbone=getattr(backbone_type, '__name__',
                         str(backbone_type)).split('.')[-1],
        resolution=list(shape),
        backbone_params=params.backbone_params,
        model_params=params.model_params,
        backbone_flops=flops.backbone_flops,
        model_flops=flops.model_flops)


def read_json(path: str, default: Any) -> Any:
    if not osp.isfile(path):
        return default
    with open(path) as f:
        return json.load(f)


def write_atomic(path: str, data: bytes) -> None:
    """Write ``path`` atomically (``mmbackbones.utils.atomic_write``: a
    temporary file, fsync, rename; never half a file)."""
    from mmbackbones.utils import atomic_write
    atomic_write(path, lambda f: f.write(data))


def write_json(path: str, data: Any) -> None:
    write_atomic(path, (json.dumps(data, indent=1, sort_keys=True) +
                        '\n').encode())


# --------------------------------------------------------------------- #
# Computed facts, kept with a digest of what they were computed from
# --------------------------------------------------------------------- #
def _plain(obj: Any) -> Any:
    """A config value as plain data (classes of pure-Python configs by
    their import path), for a digest that does not depend on ids."""
    if hasattr(obj, 'items'):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return f'{getattr(obj, "__module__", "")}.' \
           f'{getattr(obj, "__qualname__", repr(obj))}'


def config_digest(path: str) -> str:
    """A digest of a config's model and test resolution: what its row's
    computed numbers depend on besides the model code."""
    from mmengine.config import Config

    from mmbackbones.analysis.complexity import test_resolution
    cfg = Config.fromfile(path)
    text = json.dumps([_plain(cfg.model), list(test_resolution(cfg))],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def collect_facts(configs: Dict[str, str], measured: Dict[str, Any],
                  recount: bool = False, log=None) -> List[str]:
    """Bring ``measured['facts']`` up to date with the configs: a config
    whose digest changed (or every config with ``recount``) is counted
    again; entries of configs that are gone are dropped. Returns the names
    counted."""
    stored = measured.setdefault('facts', {})
    counted = []
    for name, path in configs.items():
        digest = config_digest(path)
        if recount or stored.get(name, {}).get('digest') != digest:
            stored[name] = dict(config_facts(path), digest=digest)
            counted.append(name)
            if log:
                log(f'counted {name}')
    for name in set(stored) - set(configs):
        del stored[name]
    return counted


# --------------------------------------------------------------------- #
# Hand-kept data: the family pages' rows and the published top-1
# --------------------------------------------------------------------- #
def load_data(path: str = DATA_FILE) -> Dict[str, Any]:
    import yaml
    with open(path) as f:
        return yaml.safe_load(f)


def page_rows(page: str) -> List[Dict[str, str]]:
    """The rows of every table of docs/model_zoo/<page>.md, each as
    ``{header: cell}`` plus ``'_cells'`` (the cells in order)."""
    rows = []
    header = None
    with open(osp.join(DOCS, 'model_zoo', page + '.md')) as f:
        for line in f:
            line = line.strip()
            if not line.startswith('|'):
                header = None
                continue
            cells = [c.strip() for c in line.strip('|').split('|')]
            if header is None:
                header = cells
            elif not set(line) <= set('|-: '):
                row = dict(zip(header, cells))
                row['_cells'] = cells
                rows.append(row)
    return rows


def find_row(page: str, key) -> Dict[str, str]:
    """The row of ``page`` whose first cell is ``key`` (or whose first
    cells are the list ``key``); KeyError naming both when there is none."""
    keys = [key] if isinstance(key, str) else list(key)
    for row in page_rows(page):
        if row['_cells'][:len(keys)] == keys:
            return row
    raise KeyError(f'docs/model_zoo/{page}.md has no table row starting '
                   f'with {keys}')


def check_spec(data: Dict[str, Any], name: str) -> Dict[str, str]:
    """Column names (params, flops) and what the FLOPs column counts, for
    checking ``name``'s row of its family page."""
    entry = data['variants'][name]
    spec = dict(data['pages']['default'])
    spec.update(data['pages'].get(entry['page'], {}))
    spec.update(entry.get('check', {}))
    return spec


_MMPRETRAIN_TOP1: Optional[Dict[str, Dict[str, Any]]] = None


def _mmpretrain_top1() -> Dict[str, Dict[str, Any]]:
    """``{model name: {top1, metafile}}`` of mmpretrain's ImageNet-1k
    classifiers, from the installed package's metafiles."""
    global _MMPRETRAIN_TOP1
    if _MMPRETRAIN_TOP1 is None:
        import glob

        import mmpretrain
        import yaml
        found = {}
        root = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs')
        for path in sorted(glob.glob(osp.join(root, '*', 'metafile.yml'))):
            with open(path) as f:
                meta = yaml.safe_load(f) or {}
            for model in meta.get('Models', []) or []:
                for result in model.get('Results', []) or []:
                    top1 = (result.get('Metrics') or {}).get('Top 1 Accuracy')
                    if (result.get('Dataset') == 'ImageNet-1k'
                            and top1 is not None):
                        found[model['Name']] = dict(
                            top1=float(top1),
                            metafile=osp.relpath(path, osp.dirname(root)))
        _MMPRETRAIN_TOP1 = found
    return _MMPRETRAIN_TOP1


def resolve_top1(spec) -> Optional[Dict[str, Any]]:
    """``{value, source}`` of a ``top1`` entry of the data file; the
    installed sources are read from their package (KeyError when the key is
    not there)."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        return dict(value=float(spec['value']), source=spec['source'])
    kind, _, key = spec.partition(':')
    if kind == 'torchvision':
        from torchvision.models import get_weight
        meta = get_weight(key).meta
        return dict(value=float(meta['_metrics']['ImageNet-1K']['acc@1']),
                    source=f'torchvision `{key}` metadata')
    if kind == 'mmpretrain':
        entry = _mmpretrain_top1()[key]
        return dict(value=entry['top1'],
                    source=f'mmpretrain `{key}` ({entry["metafile"]})')
    raise ValueError(f'top1 must be torchvision:<weights>, mmpretrain:<name>'
                     f', {{value, source}} or null, but it is {spec!r}')


# --------------------------------------------------------------------- #
# CPU latency of the deploy form
# --------------------------------------------------------------------- #
#: Timed in every group too, so each latency also has a ratio to it
#: measured in the same interleaved loop (load drifts between groups).
ANCHOR = 'resnet/resnet18'


def _deployed(path: str, shape) -> Any:
    """The config's whole model in deploy form (``convert_to_deploy``:
    re-parameterised, Conv-BN folded), eval mode, and an input batch of
    one at ``shape``."""
    import torch
    from mmengine.config import Config

    from mmbackbones.analysis.complexity import build_model, in_channels_of
    from mmbackbones.deploy import convert_to_deploy
    model = build_model(Config.fromfile(path).model)
    x = torch.rand(1, in_channels_of(model), *shape)
    convert_to_deploy(model, x)
    return model, x


def measure_latencies(names: List[str], configs: Dict[str, str],
                      facts: Dict[str, Dict[str, Any]], steps: int = 5,
                      warmup: int = 1, group: int = 6, log=print
                      ) -> Dict[str, Dict[str, Any]]:
    """Inference latency (batch 1, the config's resolution) of each
    config's deploy form on this CPU.

    The configs are timed in groups of ``group`` plus :data:`ANCHOR`,
    steps interleaved round-robin (mmbackbones.analysis.timing),
    each model in contiguous and channels_last format. Per model: the
    median and fastest step of its faster format (by median), ``ratio``
    and ``ratio_fastest`` to the anchor's in the same group.
    """
    import torch

    from .timing import make_runners, run_interleaved
    formats = ['contiguous_format', 'channels_last']
    results = {}
    todo = [n for n in names if n != ANCHOR]
    for start in range(0, len(todo), group):
        chunk = [ANCHOR] + todo[start:start + group]
        runners = []
        for name in chunk:
            model, x = _deployed(configs[name], facts[name]['resolution'])
            runners += make_runners({name: model}, x, 'infer', formats,
                                    torch.device('cpu'), lambda: None)
        run_interleaved(runners, warmup, steps)
        best = {}
        for r in runners:
            if r.label not in best or r.median < best[r.label].median:
                best[r.label] = r
        anchor = best[ANCHOR]
        for name in chunk:
            r = best[name]
            entry = dict(ms=round(r.median * 1e3, 2),
                         fastest_ms=round(min(r.times) * 1e3, 2),
                         format=r.memory_format,
                         ratio=round(r.median / anchor.median, 4),
                         ratio_fastest=round(
                             min(r.times) / min(anchor.times), 4))
            if name == ANCHOR:
                results.setdefault(name, []).append(entry)
            else:
                results[name] = entry
            log(f'{name}: {entry}')
        del runners
    return results


# --------------------------------------------------------------------- #
# The page and the plot
# --------------------------------------------------------------------- #
def _natural(name: str) -> list:
    import re
    return [int(p) if p.isdigit() else p for p in re.split(r'(\d+)', name)]


def ordered(names, data: Dict[str, Any]) -> List[str]:
    """By family page, each config folder's recipe before its variants."""
    def key(name):
        family = name.split('/')[0]
        return (data['variants'][name]['page'], family, '/' in name,
                _natural(name))
    return sorted(names, key=key)


def _millions(n: int) -> str:
    return f'{n / 1e6:.2f}'


def _giga(n: int) -> str:
    return f'{n / 1e9:.3f}' if n < 1e9 else f'{n / 1e9:.2f}'


def _cell(text: str) -> str:
    return str(text).replace('|', '\\|').replace('\n', ' ')


def anchor_ms(latency: Dict[str, Any]) -> Optional[float]:
    """The anchor's fastest step, median over all its groups."""
    import statistics
    runs = latency.get('results', {}).get(ANCHOR) or []
    return statistics.median(r['fastest_ms'] for r in runs) if runs else None


def normalised_ms(latency: Dict[str, Any], name: str) -> Optional[float]:
    """A config's latency: its fastest step over the anchor's in the same
    group (on a shared machine the fastest step is the least disturbed),
    times :func:`anchor_ms`, so groups timed under different load
    compare."""
    entry = latency.get('results', {}).get(name)
    base = anchor_ms(latency)
    if entry is None or base is None:
        return None
    if isinstance(entry, list):
        return base
    return entry['ratio_fastest'] * base


HEADER = '''# Model zoo: every family and variant

Generated by `{command}` from the configs (`configs/<family>.py`,
`configs/<family>/*.py`) and `docs/model_zoo_data.yaml`; do not edit by
hand (`tests/tools/test_model_zoo_doc.py` regenerates it and compares).
Each family's page in `docs/model_zoo/` has the details and the sources.

- **params**: of the backbone and of the whole classifier as the config
  builds it (RepVGG: the training form), in millions.
- **GFLOPs**: multiply-adds of the whole classifier for one image at the
  config's test resolution (**input**), in inference structure: RepVGG
  re-parameterised, BatchNorm not folded. Counted as mmengine's
  `get_model_complexity_info` / fvcore / mmpretrain count them (conv,
  linear and matmul: one per multiply-add; BatchNorm, adaptive pooling and
  upsampling per element; additions, activations and max pooling 0), by
  `mmbackbones.analysis.complexity.MetaFlopCounter` on the meta device,
  which gives exactly mmengine's totals ({counter_check}).
  `python tools/analysis/get_flops.py CONFIG` prints them for any config.
- **reference / error**: the implementation our weights convert from and
  the measured max relative error of our features against it with the
  converted weights and randomised BatchNorm statistics (from the family
  page; "params equal" where only the parameter count was compared).
- **top-1**: the ImageNet-1k top-1 (%) published for the reference's
  weights (or mmpretrain's, which load unchanged), with its source: read
  from torchvision's weights metadata and mmpretrain's `metafile.yml`
  where the package is installed, else quoted from
  `/work/shared/reference_accuracy.md`. It is the source's number for its
  weights and its test pipeline, not a result of our recipes; "-" where no
  published number fits the variant.
- **CPU ms**: latency of the deploy form
  (`mmbackbones.deploy.convert_to_deploy`: re-parameterised, Conv-BN
  folded), batch 1 at the test resolution: the fastest of {steps}
  interleaved steps in its faster memory format, over that of {anchor}
  timed in the same loop, times the anchor's (so groups timed under
  different load compare). {latency_note}

![top-1 against GFLOPs and CPU latency](model_zoo.png)

| config | backbone | input | params backbone (M) | params model (M) | GFLOPs | reference | error | top-1 | top-1 source | CPU ms |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
'''


def render(facts: Dict[str, Dict[str, Any]], data: Dict[str, Any],
           measured: Dict[str, Any]) -> str:
    """docs/model_zoo.md's text."""
    latency = measured.get('latency', {})
    check = measured.get('counter_check', {})
    counter_check = (f'equal to mmengine\'s `FlopAnalyzer` for '
                     f'{check["configs"]} configs on {check["date"]}, listed '
                     'in `docs/model_zoo_data.measured.json`; the tests '
                     'check it on five families' if check else
                     'tests/tools/test_get_flops.py')
    if latency:
        latency_note = (
            f'Measured {latency["date"]} on {latency["cpu"]} '
            f'({latency["capability"]}), {latency["threads"]} threads, '
            f'torch {latency["torch"]}, a 2-core machine shared with other '
            f'jobs (1-min load {latency["load_1min"]["min"]:.1f}-'
            f'{latency["load_1min"]["max"]:.1f}): compare them with each '
            'other, not with another machine. Only the configs with a number '
            'in this column were timed: `' + latency['command'] + '`.')
        steps = latency.get('steps', '-')
    else:
        latency_note, steps = 'Not measured yet.', '-'
    lines = [HEADER.rstrip('\n').format(command=GENERATE_COMMAND, steps=steps,
                           anchor=f'`{ANCHOR}`', latency_note=latency_note,
                           counter_check=counter_check)]
    for name in ordered(facts, data):
        fact, entry = facts[name], data['variants'][name]
        top1 = resolve_top1(entry.get('top1'))
        ms = normalised_ms(latency, name)
        h, w = fact['resolution']
        cells = [
            f'`{name}`', fact['backbone'],
            f'{h}' if h == w else f'{h}x{w}',
            _millions(fact['backbone_params']),
            _millions(fact['model_params']), _giga(fact['model_flops']),
            entry['reference'], entry['error'],
            f'{top1["value"]:g}' if top1 else '-',
            top1['source'] if top1 else (entry.get('note') or '-'),
            f'{ms:.0f}' if ms is not None else '-'
        ]
        lines.append('| ' + ' | '.join(_cell(c) for c in cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot(facts: Dict[str, Dict[str, Any]], data: Dict[str, Any],
         measured: Dict[str, Any], path: str = PLOT_FILE) -> None:
    """docs/model_zoo.png: top-1 against GFLOPs and against CPU latency of
    the deploy form, one colour and marker per config folder (family)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    latency = measured.get('latency', {})
    points: Dict[str, list] = {}
    for name in ordered(facts, data):
        top1 = resolve_top1(data['variants'][name].get('top1'))
        if top1 is None:
            continue
        points.setdefault(name.split('/')[0], []).append(
            (facts[name]['model_flops'] / 1e9, normalised_ms(latency, name),
             top1['value']))
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5), sharey=True)
    cmap = plt.get_cmap('tab20')
    markers = 'os^Dv<>p*hX'
    for i, (page, pts) in enumerate(sorted(points.items())):
        style = dict(color=cmap(i % 20), marker=markers[i % len(markers)],
                     linestyle='none', markersize=6, label=page)
        pts_f = sorted(pts, key=lambda p: p[0])
        axes[0].plot([p[0] for p in pts_f], [p[2] for p in pts_f], **style)
        pts_l = sorted((p[1], p[2]) for p in pts if p[1] is not None)
        if pts_l:
            axes[1].plot([p[0] for p in pts_l], [p[1] for p in pts_l],
                         **style)
    axes[0].set_xlabel('GFLOPs (multiply-adds, whole model, at its test '
                       'resolution)')
    axes[1].set_xlabel(f'CPU latency of the deploy form, batch 1, ms '
                       f'(normalised by {ANCHOR})')
    axes[0].set_ylabel('published ImageNet-1k top-1 (%) of the reference '
                       'weights')
    for ax in axes:
        ax.set_xscale('log')
        ax.grid(True, which='both', alpha=0.3)
    note = ''
    if latency:
        note = (f'latency: {latency["date"]}, {latency["cpu"]} '
                f'({latency["capability"]}), '
                f'{latency["threads"]} threads, shared machine (load '
                f'{latency["load_1min"]["min"]:.0f}-'
                f'{latency["load_1min"]["max"]:.0f})')
    axes[1].set_title(note, fontsize=8)
    axes[0].set_title('generated by tools/gen_model_zoo.py', fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc='center right', fontsize=8,
               title='configs/')
    fig.subplots_adjust(right=0.86)
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    from mmbackbones.utils import atomic_path
    try:
        with atomic_path(path) as tmp:  # the name ends .tmp: say png
            fig.savefig(tmp, format='png', dpi=110,
                        metadata={'Software': None})
    finally:
        plt.close(fig)


# --------------------------------------------------------------------- #
# What tools/gen_model_zoo.py (mmbackbones.cli.gen_model_zoo) runs
# --------------------------------------------------------------------- #
def generate(recount: bool = False, log=None) -> Dict[str, Any]:
    """Bring the computed facts up to date and return everything the page
    needs: ``{'facts', 'data', 'measured', 'text', 'counted'}``. Writes
    nothing."""
    configs = zoo_configs()
    data = load_data()
    missing = sorted(set(configs) - set(data['variants']))
    extra = sorted(set(data['variants']) - set(configs))
    if missing or extra:
        raise ValueError(
            f'{osp.relpath(DATA_FILE, ROOT)} must have one entry per config:'
            f' add {missing}, remove {extra}')
    measured = read_json(MEASURED_FILE, {})
    counted = collect_facts(configs, measured, recount, log)
    text = render(measured['facts'], data, measured)
    return dict(facts=measured['facts'], data=data, measured=measured,
                text=text, counted=counted)


def record_latencies(names: List[str], result: Dict[str, Any], steps: int,
                     argv: Optional[List[str]]) -> Dict[str, Any]:
    """Measure (:func:`measure_latencies`) and describe the run: date,
    command, CPU, threads and the machine's load while it ran."""
    import datetime
    import subprocess
    import sys

    import torch
    configs = zoo_configs()
    data = result['data']
    names = names or [n for n in configs
                      if data['variants'][n].get('top1') is not None]
    unknown = sorted(set(names) - set(configs))
    if unknown:
        raise ValueError(f'--measure-latency: no config {unknown}; names '
                         f'are as in docs/model_zoo.md, e.g. resnet/resnet18')
    loads = [os.getloadavg()[0]]

    def log(message):
        loads.append(os.getloadavg()[0])
        print(message, flush=True)

    results = measure_latencies(names, configs, result['facts'], steps,
                                log=log)
    cpu = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    model = next((line.split(':', 1)[1].strip() for line in cpu.splitlines()
                  if line.startswith('Model name')), 'unknown CPU')
    return dict(
        results=results, date=datetime.date.today().isoformat(),
        command=' '.join(['python tools/gen_model_zoo.py'] +
                         list(argv if argv is not None else sys.argv[1:])),
        cpu=model, capability=torch.backends.cpu.get_cpu_capability(),
        threads=torch.get_num_threads(), torch=torch.__version__,
        steps=steps, load_1min=dict(min=min(loads), max=max(loads)))
