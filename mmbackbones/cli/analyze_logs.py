"""``python tools/analysis/analyze_logs.py plot_curve|cal_train_time LOG...``.

mmpretrain's ``tools/analysis_tools/analyze_logs.py``, with its sub-commands,
arguments and output, on the ``vis_data/scalars.json`` that mmengine's
``LocalVisBackend`` writes (every recipe's runtime has it). Differences,
each because theirs surprised a user:

* a ``LOG`` may also be a run's work dir: its newest
  ``<timestamp>/vis_data/scalars.json`` is used (and named on stdout);
* ``plot_curve`` draws one panel per key on a shared x axis in epochs (or
  iterations for iteration-based runs) -- mmpretrain puts training keys in
  epochs and validation keys in "steps" on one axis, so a loss of 2 and a
  top-1 of 97 share a scale; the PNG is written atomically with matplotlib's
  Agg backend (no display needed), so ``--out`` is required;
* a key that is not in the log is one message listing the keys there; a
  truncated last line (a killed run) is skipped with a note.

Example:
    >>> main(['plot_curve', 'work_dirs/shufflenet_v2_digits',
    ...       '--keys', 'loss', 'accuracy/top1', '--out', 'curve.png'])
    plot curve of .../scalars.json, metric is loss
    ...
    save curve to: curve.png
"""
import glob
import json
import os.path as osp
import re
import sys
from itertools import groupby
from typing import Dict, List, Optional, Sequence

from .common import ArgumentParser, ToolError, run_tool

LogDict = Dict[str, List[dict]]


def resolve_log(path: str) -> str:
    """A ``scalars.json`` path, or a work dir's newest run's one."""
    if osp.isdir(path):
        found = sorted(glob.glob(osp.join(path, '*', 'vis_data',
                                          'scalars.json')))
        if not found:
            raise ToolError(f'{path}: no <timestamp>/vis_data/scalars.json '
                            'in this work dir (a run with LocalVisBackend '
                            'writes one; every recipe here has it)')
        print(f'{path}: using {found[-1]}')
        return found[-1]
    if not osp.isfile(path):
        raise ToolError(f'log not found: {path}')
    if not path.endswith('.json'):
        raise ToolError(f'{path}: give the json log (vis_data/scalars.json) '
                        'or the work dir, not the text log')
    return path


def load_json_log(path: str) -> LogDict:
    """``{'train': [...], 'val': [...]}`` as mmpretrain's ``load_json_log``
    (a record with ``lr`` is training's), with bad lines reported."""
    log: LogDict = dict(train=[], val=[])
    with open(path, encoding='utf-8') as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines):  # a run killed while writing
                print(f'{path}: skipped its truncated last line {number}',
                      file=sys.stderr)
                break
            raise ToolError(f'{path}:{number}: not a JSON record ({err.msg})'
                            ) from None
        if not isinstance(record, dict) or 'step' not in record:
            raise ToolError(f'{path}:{number}: not a scalars.json record '
                            '(a JSON object with a "step")')
        log['train' if 'lr' in record else 'val'].append(record)
    if not log['train'] and not log['val']:
        raise ToolError(f'{path}: the log is empty')
    return log


def _keys(records: List[dict], drop: Sequence[str]) -> List[str]:
    return sorted({k for r in records for k in r} - set(drop))


def train_keys(log: LogDict) -> List[str]:
    return _keys(log['train'], ('step', 'epoch', 'iter'))


def val_keys(log: LogDict) -> List[str]:
    return _keys(log['val'], ('step', ))


def curve(log: LogDict, key: str, path: str):
    """``(xs, ys, x_label)`` of ``key``: training records at
    ``step / iterations per epoch`` (fractional epochs), validation records
    at their ``step`` (the epoch, in an epoch-based run); iterations when
    the run is iteration-based (no ``epoch`` in its records). A key of both
    phases (``time``) is training's."""
    by_epoch = bool(log['train']) and 'epoch' in log['train'][-1]
    # A key of both phases (time, data_time) is training's; mmpretrain
    # took validation's.
    if key in train_keys(log):
        records, phase = log['train'], 'train'
    elif key in val_keys(log):
        records, phase = log['val'], 'val'
    else:
        raise ToolError(
            f'{path}: no key {key!r} in this log; training keys: '
            f'{train_keys(log)}, validation keys: {val_keys(log)}')
    records = [r for r in records if key in r]
    xs = [float(r['step']) for r in records]
    if by_epoch and phase == 'train':
        last = log['train'][-1]
        per_epoch = last['step'] / last['epoch']
        xs = [x / per_epoch for x in xs]
    ys = [float(r[key]) for r in records]
    return xs, ys, 'epoch' if by_epoch else 'iteration'


def legends(args) -> List[str]:
    """``--legend``, else mmpretrain's ``<file name>_<key>``."""
    if args.legend is not None:
        expected = len(args.json_logs) * len(args.keys)
        if len(args.legend) != expected:
            raise ToolError(f'--legend needs one entry per log and key '
                            f'({len(args.json_logs)} x {len(args.keys)} = '
                            f'{expected}), got {len(args.legend)}')
        return list(args.legend)
    names = []
    for path in args.json_logs:
        base = osp.basename(path)[:-len('.json')]
        if base.endswith('.log'):
            base = base[:-len('.log')]
        if base == 'scalars':  # name the run: <timestamp> of its folder
            base = osp.basename(osp.dirname(osp.dirname(osp.abspath(path))))
        names += [f'{base}_{key}' for key in args.keys]
    return names


def plot_curve(logs: List[LogDict], args) -> None:
    import matplotlib
    matplotlib.use('Agg')  # no display; safe in any process
    import matplotlib.pyplot as plt

    from mmbackbones.engine.checkpoint import atomic_write

    width, height = (int(v) for v in args.window_size.split('*'))
    names = legends(args)
    # Check every key first: nothing is drawn or written for a typo.
    curves = [[curve(log, key, path) for key in args.keys]
              for log, path in zip(logs, args.json_logs)]
    fig, axes = plt.subplots(len(args.keys), 1, sharex=True,
                             figsize=(width, height), squeeze=False)
    x_label = 'iteration'
    for i, path in enumerate(args.json_logs):
        for j, key in enumerate(args.keys):
            print(f'plot curve of {path}, metric is {key}')
            xs, ys, x_label = curves[i][j]
            axis = axes[j][0]
            axis.plot(xs, ys, label=names[i * len(args.keys) + j],
                      linewidth=1.0, marker='o' if len(xs) < 30 else None,
                      markersize=3)
            axis.set_ylabel(key)
            axis.grid(True, alpha=0.3)
            axis.legend()
    axes[-1][0].set_xlabel(x_label)
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    fmt = osp.splitext(args.out)[1][1:].lower() or 'png'
    try:
        atomic_write(args.out, lambda f: fig.savefig(f, format=fmt))
    except ValueError as err:  # an unknown image format
        raise ToolError(f'--out {args.out}: {err}') from None
    finally:
        plt.close(fig)
    print(f'save curve to: {args.out}')


def cal_train_time(logs: List[LogDict], args) -> None:
    """mmpretrain's report: slowest/fastest epoch and the std of the
    per-epoch means (the first iteration of each epoch, which waits for the
    dataloader, left out unless ``--include-outliers``), then the mean time
    per iteration over the whole log."""
    import numpy as np
    for path, log in zip(args.json_logs, logs):
        print(f'{"-" * 5}Analyze train time of {path}{"-" * 5}')
        train = [r for r in log['train'] if 'time' in r]
        if not train:
            raise ToolError(f'{path}: no training record with a "time" '
                            f'(training keys: {train_keys(log)})')
        if 'epoch' in train[0]:
            means = []
            for _, records in groupby(train, lambda r: r['epoch']):
                times = [r['time'] for r in records]
                if not args.include_outliers and len(times) > 1:
                    times = times[1:]
                means.append(float(np.mean(times)))
            means_arr = np.array(means)
            slowest, fastest = means_arr.argmax(), means_arr.argmin()
            print(f'slowest epoch {slowest + 1}, average time is '
                  f'{means_arr[slowest]:.4f}')
            print(f'fastest epoch {fastest + 1}, average time is '
                  f'{means_arr[fastest]:.4f}')
            print(f'time std over epochs is {means_arr.std():.4f}')
        average = float(np.mean([r['time'] for r in train]))
        print(f'average iter time: {average:.4f} s/iter')
        print()


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = ArgumentParser(
        prog='analyze_logs.py',
        description='Plot training curves or compute the time per '
        'iteration from json logs (vis_data/scalars.json).')
    sub = parser.add_subparsers(dest='task', required=True,
                                parser_class=ArgumentParser)
    plot = sub.add_parser('plot_curve', help='plot keys against epochs')
    plot.add_argument('json_logs', nargs='+',
                      help='scalars.json files, or work dirs (their newest '
                      'run)')
    plot.add_argument('--keys', nargs='+', default=['loss'],
                      help='keys to plot, e.g. loss accuracy/top1')
    plot.add_argument('--title', help='title of the figure')
    plot.add_argument('--legend', nargs='+', default=None,
                      help='one legend per log and key')
    plot.add_argument('--style', default='whitegrid',
                      help='accepted for mmpretrain compatibility (a '
                      'seaborn style; ignored without seaborn)')
    plot.add_argument('--out', help='the image to write (.png, .pdf, .svg)')
    plot.add_argument('--window-size', default='12*7',
                      help='figure size in inches, "W*H"')
    time = sub.add_parser('cal_train_time',
                          help='average time per training iteration')
    time.add_argument('json_logs', nargs='+',
                      help='scalars.json files, or work dirs')
    time.add_argument('--include-outliers', action='store_true',
                      help="include each epoch's first iteration")
    args = parser.parse_args(argv)
    if args.task == 'plot_curve':
        if not args.out:
            raise ToolError('plot_curve needs --out FILE.png (it draws '
                            'without a display)')
        if not re.fullmatch(r'[1-9]\d*\*[1-9]\d*', args.window_size):
            raise ToolError(f'--window-size must be "W*H" in inches, e.g. '
                            f'12*7, got {args.window_size!r}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    args.json_logs = [resolve_log(p) for p in args.json_logs]
    logs = [load_json_log(p) for p in args.json_logs]
    if args.task == 'plot_curve':
        plot_curve(logs, args)
    else:
        cal_train_time(logs, args)


def cli(argv: Optional[Sequence[str]] = None) -> None:
    run_tool(main, argv, prog='analyze_logs.py')
