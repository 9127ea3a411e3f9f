"""One exit-status rule for every tool under tools/ (issue 10, items 9 and
10): bad input is exit status 2 and one line on stderr, never a traceback;
the shell launchers run ``$PYTHON``, not whatever ``python`` is on PATH."""
import glob
import os
import os.path as osp
import runpy
import stat
import subprocess
import sys

import pytest
from conftest import DEMO_CONFIG, REPO_ROOT, free_port, run_tool

from mmbackbones.cli.common import (EXIT_BAD_INPUT, ArgumentParser, ToolError,
                                    call_tool)

# A bad argument for each tool; a new tool must get one here.
BAD_ARGUMENTS = {
    'tools/train.py': [DEMO_CONFIG, '--no-such-option'],
    'tools/test.py': [DEMO_CONFIG, 'x.pth', '--no-such-option'],
    'tools/convert_weights.py': ['--source', 'nowhere', '--config',
                                 DEMO_CONFIG, 'in.pth', 'out.pth'],
    'tools/deploy.py': [DEMO_CONFIG, 'x.pth', '--out', 'y.pth', '--shape',
                        '1', '2', '3'],
    'tools/analysis/benchmark.py': ['configs/nope.py', '--reference',
                                    'torchvision:resnet18'],
    'tools/analysis/deploy_speed.py': ['--batch', '0'],
    'tools/infer.py': [DEMO_CONFIG, 'x.pth', 'x.png', '--topk', '0'],
    'tools/analysis/analyze_logs.py': ['plot_curve', 'x.json'],
    'tools/analysis/get_flops.py': ['configs/nope.py'],
    'tools/analysis/train_speed.py': ['configs/nope.py'],
    'tools/gen_model_zoo.py': ['--latency-steps', '0'],
    'tools/dist_train.sh': [DEMO_CONFIG],
    'tools/dist_test.sh': [DEMO_CONFIG, 'x.pth'],
    'tools/slurm_train.sh': ['partition'],
}


def test_every_python_tool_is_a_shim_over_the_package():
    """tools/*.py hold no logic (issue 15, §2): a docstring, ``from
    mmbackbones.cli.<module> import cli`` and ``if __name__ ==
    '__main__': cli()`` -- nothing else, so the code is importable,
    tested and documented in one place."""
    import ast
    import importlib
    tools = sorted(t for t in BAD_ARGUMENTS if t.endswith('.py'))
    for tool in tools:
        with open(osp.join(REPO_ROOT, tool)) as f:
            tree = ast.parse(f.read(), filename=tool)
        doc, imp, guard = tree.body  # exactly three statements
        assert isinstance(doc, ast.Expr) and isinstance(
            doc.value, ast.Constant), tool
        assert isinstance(imp, ast.ImportFrom), tool
        assert imp.module.startswith('mmbackbones.cli.'), tool
        assert [a.name for a in imp.names] == ['cli'], tool
        assert ast.unparse(guard) == "if __name__ == '__main__':\n    cli()", \
            tool
        assert callable(importlib.import_module(imp.module).cli), tool


def _run(tool, args, env=None):
    if tool.endswith('.sh'):
        return subprocess.run(['bash', tool, *args], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120,
                              env=env)
    return run_tool([tool, *args], timeout=120)


def _run_in_process(tool, args, capsys, monkeypatch):
    """Run a Python tool as ``python TOOL ARGS`` would, in this process
    (a fresh interpreter per tool costs seconds of imports)."""
    monkeypatch.setattr(sys, 'argv', [tool, *args])
    monkeypatch.syspath_prepend(osp.dirname(osp.join(REPO_ROOT, tool)))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(osp.join(REPO_ROOT, tool), run_name='__main__')
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(tool, exit_info.value.code,
                                       captured.out, captured.err)


def _assert_one_line(proc, *expected):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    assert len(lines) == 1, proc.stderr[-2000:]
    for text in expected:
        assert text in lines[0], lines[0]


def test_every_tool_has_a_bad_argument_case():
    tools = sorted(osp.relpath(p, REPO_ROOT) for pattern in ('*.py', '*.sh')
                   for p in glob.glob(osp.join(REPO_ROOT, 'tools', '**',
                                               pattern), recursive=True))
    assert tools == sorted(BAD_ARGUMENTS)


@pytest.mark.parametrize('tool', sorted(BAD_ARGUMENTS))
def test_bad_argument_is_exit_2_and_one_line(tool, capsys, monkeypatch):
    if tool.endswith('.sh'):
        proc = _run(tool, BAD_ARGUMENTS[tool])
        _assert_one_line(proc, 'usage: ')
    else:
        proc = _run_in_process(tool, BAD_ARGUMENTS[tool], capsys,
                               monkeypatch)
        _assert_one_line(proc, f'{osp.basename(tool)}: error: ')
    assert 'Traceback' not in proc.stderr


def test_bad_input_in_a_real_process():
    """The same rule seen from outside: a missing config, a fresh
    interpreter (benchmark.py gave a FileNotFoundError traceback)."""
    proc = run_tool(['tools/analysis/benchmark.py', 'configs/nope.py',
                     '--reference', 'torchvision:resnet18'])
    _assert_one_line(proc, 'benchmark.py: error: config file not found: '
                     'configs/nope.py')


def test_benchmark_bad_cfg_options_key(capsys, monkeypatch):
    proc = _run_in_process('tools/analysis/benchmark.py', [
        DEMO_CONFIG, '--reference', 'torchvision:resnet18', '--cfg-options',
        'model.backbone.widen=2'], capsys, monkeypatch)
    _assert_one_line(proc, "model.backbone has no key 'widen'")


def test_unknown_option_is_one_line_in_process(capsys):
    def main(argv):
        parser = ArgumentParser(prog='x.py')
        parser.add_argument('--n', type=int)
        parser.parse_args(argv)

    assert call_tool(main, ['--m', '1'], prog='x.py') == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err == ('x.py: error: unrecognized arguments: --m 1 (see x.py '
                   '--help)\n')
    assert call_tool(main, ['--n', 'one'], prog='x.py') == EXIT_BAD_INPUT
    assert "invalid int value: 'one'" in capsys.readouterr().err

    def raises(argv):
        raise ToolError('bad thing')

    assert call_tool(raises, [], prog='x.py') == EXIT_BAD_INPUT


def _path_without_torch(tmp_path):
    """A PATH whose ``python`` has no torch (a system interpreter), as from
    a virtualenv that is not activated."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    system = '/usr/bin/python3'
    if not osp.exists(system) or subprocess.run(
            [system, '-c', 'import torch'], capture_output=True).returncode \
            == 0:
        # No torch-less interpreter: a 'python' that fails like one.
        fake = bin_dir / 'python'
        fake.write_text("#!/bin/sh\necho \"No module named 'torch'\" >&2\n"
                        'exit 1\n')
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    else:
        os.symlink(system, bin_dir / 'python')
    return f'{bin_dir}:/usr/bin:/bin'


@pytest.mark.parametrize('script,args', [
    ('tools/dist_train.sh', [DEMO_CONFIG, '1', '--help']),
    ('tools/dist_test.sh', [DEMO_CONFIG, 'x.pth', '1', '--help']),
])
def test_launchers_use_the_python_they_are_given(tmp_path, script, args):
    env = dict(os.environ, PATH=_path_without_torch(tmp_path),
               PYTHON=sys.executable, PORT=free_port())
    proc = _run(script, args, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'usage: ' in proc.stdout and '--launcher' in proc.stdout
    # Without PYTHON it is PATH's python, which has no torch.
    del env['PYTHON']
    proc = _run(script, args, env=env)
    assert proc.returncode != 0 and 'torch' in proc.stderr


def test_slurm_launcher_uses_the_python_it_is_given(tmp_path):
    path = _path_without_torch(tmp_path)
    # A stand-in for srun (no Slurm here): drop its options, run the task.
    srun = tmp_path / 'bin' / 'srun'
    srun.write_text('#!/bin/bash\n[ "$1" = -p ] && shift 2\n'
                    'while [[ "$1" == -* ]]; do shift; done\nexec "$@"\n')
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=path, PYTHON=sys.executable)
    proc = _run('tools/slurm_train.sh', ['p', 'job', DEMO_CONFIG, '--help'],
                env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'usage: train.py' in proc.stdout


# --------------------------------------------------------------------- #
# One error convention: the class says the exit status (issue 15, §2)
# --------------------------------------------------------------------- #
def _library_errors():
    from mmbackbones.datasets import BadSampleError, DatasetError
    from mmbackbones.deploy.pipeline import DeployError
    from mmbackbones.engine.checkpoint import CheckpointError
    from mmbackbones.engine.hooks import NonFiniteLossError
    from mmbackbones.engine.runner import WorkDirBusy
    return {CheckpointError: 2, WorkDirBusy: 2, DatasetError: 2,
            BadSampleError: 2, DeployError: 2, NonFiniteLossError: 3}


def test_each_library_error_is_bad_input_or_a_stopped_run_by_its_class():
    """Every "your input is bad" error of the library is an InputError
    (one rule maps it to 2); a non-finite loss is a RunStopped (3). The
    built-in base each had stays (``except ValueError`` still works)."""
    from mmbackbones.utils import InputError, ReportedError, RunStopped
    for cls, code in _library_errors().items():
        assert issubclass(cls, InputError if code == 2 else RunStopped), cls
        assert cls.exit_code == code
        assert issubclass(cls, (ValueError, RuntimeError)), cls
    assert not issubclass(RunStopped, InputError)
    assert issubclass(InputError, ReportedError)


def test_the_exit_status_comes_from_the_class_alone(capsys):
    """call_tool keeps no list of library errors: a new InputError
    subclass is one line and exit 2 without being registered anywhere."""
    from mmbackbones.utils import InputError

    class NewLibraryError(InputError, ValueError):
        pass

    errors = {**_library_errors(), NewLibraryError: 2}
    for cls, code in errors.items():
        def main(argv, cls=cls):
            raise cls(f'--thing {cls.__name__}: bad value')

        assert call_tool(main, [], prog='x.py') == code, cls
        assert capsys.readouterr().err == (
            f'x.py: error: --thing {cls.__name__}: bad value\n')
    # A plain ValueError is a bug (traceback) unless the tool says so.
    with pytest.raises(ValueError):
        call_tool(lambda argv: int('x'), [], prog='x.py')


def test_a_worker_traceback_is_reduced_to_its_last_message(capsys):
    """What a DataLoader worker re-raises: its traceback, then the
    error's own line (prefixed with the qualified class name)."""
    from mmbackbones.datasets import BadSampleError
    text = ('Caught BadSampleError in DataLoader worker process 0.\n'
            'Original Traceback (most recent call last):\n'
            '  File "x.py", line 1, in <module>\n'
            'mmbackbones.datasets.checked.BadSampleError: cannot load '
            'data/1/a.png (sample 3 of CustomDataset): empty\n')

    def main(argv):
        raise BadSampleError(text)

    assert call_tool(main, [], prog='train.py') == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        'train.py: error: cannot load data/1/a.png (sample 3 of '
        'CustomDataset): empty\n')


def test_a_busy_work_dir_is_exit_2_naming_it(tmp_path, digits_root, capsys):
    """WorkDirBusy through tools/train.py: another live process holds the
    work dir's lock (only another process can: one process may reuse its
    own lock)."""
    from mmbackbones.cli import train as train_cli
    work_dir = str(tmp_path / 'busy')
    os.makedirs(work_dir)
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import sys, time\n'
         'from mmbackbones.engine.runner import lock_work_dir\n'
         'lock_work_dir(sys.argv[1]); print("locked", flush=True)\n'
         'time.sleep(120)', work_dir],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        code = call_tool(train_cli.main, [
            DEMO_CONFIG, '--work-dir', work_dir, '--no-validate',
            '--cfg-options', f'train_dataloader.dataset.data_root='
            f'{digits_root}', f'val_dataloader.dataset.data_root='
            f'{digits_root}', f'test_dataloader.dataset.data_root='
            f'{digits_root}', f'prepare_data.data_root={digits_root}'],
            prog='train.py')
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, err[-2000:]
    line = err[err.index('train.py: error: '):].strip()
    assert len(line.splitlines()) == 1, line
    assert f'work dir {work_dir} is in use by another run (pid ' \
        f'{holder.pid} ' in line
