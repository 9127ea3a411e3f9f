"""tools/analysis/analyze_logs.py on the scalars.json of a real demo run:
plot_curve writes a PNG (one panel per key, against epochs), cal_train_time
prints mmpretrain's report, a missing key names the keys there; the
README's demo block ends with this tool's command and it runs."""
import glob
import json
import os
import os.path as osp
import shlex

import pytest
from conftest import (DEMO_CONFIG, REPO_ROOT, readme_commands,
                      run_readme_command)

from mmbackbones.cli import analyze_logs
from mmbackbones.cli.common import DEMO_COMMAND, EXIT_BAD_INPUT, call_tool

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def scalars(demo_run):
    work_dir, _ = demo_run
    [path] = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    return path


def test_curve_points_are_epochs(scalars):
    log = analyze_logs.load_json_log(scalars)
    xs, ys, label = analyze_logs.curve(log, 'loss', scalars)
    assert label == 'epoch'
    assert len(xs) == 12  # 2 epochs x 6 iterations, each logged
    assert xs[-1] == pytest.approx(2.0) and xs[0] == pytest.approx(1 / 6)
    xs, ys, _ = analyze_logs.curve(log, 'accuracy/top1', scalars)
    assert xs == [1.0, 2.0] and all(0 <= y <= 100 for y in ys)
    # a key of both phases is training's (one value per iteration)
    assert len(analyze_logs.curve(log, 'time', scalars)[0]) == 12


def test_plot_curve_writes_a_png(scalars, tmp_path, capsys):
    out = str(tmp_path / 'curve.png')
    analyze_logs.main(['plot_curve', scalars, '--keys', 'loss',
                       'accuracy/top1', '--out', out, '--title', 'demo'])
    with open(out, 'rb') as f:
        assert f.read(8) == PNG_MAGIC
    assert osp.getsize(out) > 10_000  # two panels of lines, not empty
    printed = capsys.readouterr().out
    assert 'metric is accuracy/top1' in printed
    assert f'save curve to: {out}' in printed
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.tmp')]


def test_cal_train_time(scalars, capsys):
    work_dir = osp.dirname(osp.dirname(osp.dirname(scalars)))
    analyze_logs.main(['cal_train_time', work_dir])  # a work dir works too
    out = capsys.readouterr().out
    times = [r['time'] for r in map(json.loads, open(scalars)) if 'lr' in r]
    mean = sum(times) / len(times)
    assert f'average iter time: {mean:.4f} s/iter' in out
    assert 'slowest epoch' in out and 'time std over epochs' in out


@pytest.mark.parametrize('args, message', [
    (['plot_curve', '{log}', '--keys', 'acc', '--out', '{out}'],
     "no key 'acc' in this log; training keys: ['base_lr', 'data_time', "
     "'loss', 'lr', 'time'], validation keys: ['accuracy/top1'"),
    (['plot_curve', '{log}'], 'plot_curve needs --out'),
    (['plot_curve', '{log}', '--out', '{out}', '--window-size', '12x7'],
     '--window-size must be "W*H"'),
    (['plot_curve', '{log}', '--out', '{out}', '--legend', 'a', 'b'],
     '--legend needs one entry per log and key'),
    (['plot_curve', 'nope.json', '--out', '{out}'], 'log not found'),
    (['cal_train_time', '{empty}'], 'no <timestamp>/vis_data/scalars.json'),
    (['cal_train_time', '{bad}'], 'bad.json:1: not a JSON record'),
])
def test_bad_input_is_exit_2_and_one_line(scalars, tmp_path, args, message,
                                          capsys):
    bad = tmp_path / 'bad.json'
    bad.write_text('{oops\n{"lr": 1, "step": 1, "time": 0.1}\n')
    (tmp_path / 'empty').mkdir()
    args = [a.format(log=scalars, out=str(tmp_path / 'c.png'),
                     empty=str(tmp_path / 'empty'), bad=str(bad))
            for a in args]
    code = call_tool(analyze_logs.main, args, prog='analyze_logs.py')
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_BAD_INPUT
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / 'c.png').exists()  # nothing written


def test_truncated_last_line_is_skipped(scalars, tmp_path, capsys):
    """A run killed while logging leaves half a line: the rest plots."""
    cut = tmp_path / 'scalars.json'
    cut.write_text(open(scalars).read() + '{"lr": 0.1, "lo')
    log = analyze_logs.load_json_log(str(cut))
    assert len(log['train']) == 12
    assert 'skipped its truncated last line' in capsys.readouterr().err


def test_readme_demo_block_ends_by_plotting_its_curve(demo_run, tmp_path,
                                                      monkeypatch, capsys):
    """The README's demo commands: the install lines, the demo (which
    test_train_demo runs, shortened; the demo_run fixture is that run, 2
    epochs), then this tool's command, run as written in a folder laid out
    like the user's."""
    work_dir, _ = demo_run
    commands = readme_commands('Set up and run the demo')
    assert commands[0].startswith('pip install torch')
    assert commands[1].startswith('pip install -e')
    assert commands[2] == DEMO_COMMAND
    assert DEMO_COMMAND == f'python tools/train.py {DEMO_CONFIG}'
    assert len(commands) == 4
    argv = shlex.split(commands[3])
    assert argv[:3] == ['python', 'tools/analysis/analyze_logs.py',
                        'plot_curve']
    os.makedirs(tmp_path / 'work_dirs')
    os.symlink(work_dir, tmp_path / 'work_dirs' / 'shufflenet_v2_digits')
    printed = run_readme_command(commands[3], str(tmp_path), monkeypatch,
                                 capsys)
    out = tmp_path / argv[argv.index('--out') + 1]
    assert f'save curve to: {argv[argv.index("--out") + 1]}' in printed
    with open(out, 'rb') as f:
        assert f.read(8) == PNG_MAGIC
    os.remove(out)  # it went into the shared fixture's work dir
    # the picture the README shows is committed
    with open(osp.join(REPO_ROOT, 'docs', 'demo_curve.png'), 'rb') as f:
        assert f.read(8) == PNG_MAGIC
