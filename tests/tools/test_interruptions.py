"""A SIGTERM stops a run with one line and exit 143 wherever it lands:
inside library code that catches everything, in a process forked while
the handler was installed, and while a DataLoader worker is handing the
main process a batch (the worker prints nothing of its own)."""
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing import resource_sharer

import pytest

from mmbackbones.cli.common import EXIT_TERMINATED, call_tool
from mmbackbones.engine import QuietWhenMainStops, quiet_when_main_stops
from mmbackbones.utils import (Terminated, raise_if_terminated,
                               sigterm_as_exception)

LINE = ('terminated (SIGTERM): stopped cleanly (no temporary file left, '
        'work dir unlocked)')


def _sigterm_now():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)  # the handler raises before this ends
    raise AssertionError('SIGTERM was not delivered')


def test_sigterm_turned_into_another_error_is_still_a_termination(capsys):
    def main(argv):
        try:
            _sigterm_now()
        except:  # noqa: E722 -- what mmengine's Config.pretty_text does
            raise SyntaxError('Failed to format the config file')

    assert call_tool(main, [], prog='t.py') == EXIT_TERMINATED
    assert capsys.readouterr().err == f't.py: {LINE}\n'


def test_a_real_bug_keeps_its_context(capsys):
    def main(argv):
        try:
            {}['missing']
        except KeyError:
            raise RuntimeError('a bug while handling a KeyError')

    with pytest.raises(RuntimeError) as info:
        call_tool(main, [], prog='t.py')
    assert isinstance(info.value.__context__, KeyError)
    assert not info.value.__suppress_context__


def test_a_swallowed_sigterm_is_raised_again_at_the_next_check(capsys):
    checks = []

    def main(argv):
        try:
            _sigterm_now()
        except BaseException:  # noqa: B036 -- a library swallowing it
            pass
        checks.append('after the swallow')
        raise_if_terminated()
        checks.append('not reached')

    assert call_tool(main, [], prog='t.py') == EXIT_TERMINATED
    assert checks == ['after the swallow']
    assert capsys.readouterr().err == f't.py: {LINE}\n'
    raise_if_terminated()  # nothing pending once the tool returned


def test_the_runner_checks_at_every_hook_point():
    from mmbackbones.engine import SafeRunner
    from mmbackbones.utils import _pending
    _pending.append(signal.SIGTERM)  # as the handler leaves it
    try:
        runner = SafeRunner.__new__(SafeRunner)  # no hook is reached
        with pytest.raises(Terminated):
            runner.call_hook('before_train_iter')
    finally:
        _pending.clear()


def test_a_forked_child_dies_of_sigterm_silently():
    read, write = os.pipe()
    with sigterm_as_exception():
        child = os.fork()
        if child == 0:  # inherits the handler
            os.close(read)
            os.dup2(write, 2)
            try:
                time.sleep(30)
            finally:
                os._exit(7)  # reached only if SIGTERM raised in the child
        os.close(write)
        time.sleep(0.2)
        os.kill(child, signal.SIGTERM)
        _, status = os.waitpid(child, 0)
    with os.fdopen(read) as f:
        printed = f.read()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
    assert printed == ''


def _stderr_of_child(case, quiet):
    """What a forked child running ``case`` prints on stderr."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read)
            os.dup2(write, 2)
            sys.stderr = os.fdopen(2, 'w', buffering=1)
            if quiet:
                quiet_when_main_stops()
            case()
            time.sleep(0.3)  # the thread reports meanwhile
            print('done', file=sys.stderr)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        printed = f.read()
    os.waitpid(child, 0)
    return printed


# What the two threads of a worker that talk to the main process meet
# when it has gone away: the result queue's feeder, resource_sharer's fd
# server.
def _result_queue_closed():  # the main process closed its end
    queue = multiprocessing.get_context('fork').Queue()
    queue._reader.close()
    queue.put(b'x' * 100)


def _handshake_dropped():  # the main process left the fd handshake
    resource_sharer.DupFd(os.open(os.devnull, os.O_RDONLY))
    client = socket.socket(socket.AF_UNIX)
    client.connect(resource_sharer._resource_sharer._address)
    client.close()


def _unpicklable():  # not the main process's doing
    multiprocessing.get_context('fork').Queue().put(lambda: 0)


@pytest.mark.parametrize('case', [_result_queue_closed, _handshake_dropped])
def test_a_worker_says_nothing_when_the_main_process_drops_it(case):
    assert 'Traceback' in _stderr_of_child(case, quiet=False)  # before
    assert _stderr_of_child(case, quiet=True) == 'done\n'


def test_a_worker_still_reports_its_own_errors():
    printed = _stderr_of_child(_unpicklable, quiet=True)
    assert 'Traceback' in printed and 'pickle' in printed


def test_every_loader_of_the_runner_has_quiet_workers(digits_root):
    from mmengine.dataset.utils import worker_init_fn as mmengine_worker_init
    from mmpretrain.datasets import CustomDataset

    from mmbackbones.engine import SafeRunner, seed_worker
    dataset = dict(type=CustomDataset, data_root=digits_root,
                   data_prefix='val', pipeline=[])
    for workers, init in [(1, dict(type=seed_worker)), (1, None), (0, None)]:
        cfg = dict(batch_size=2, num_workers=workers, dataset=dataset,
                   sampler=dict(type='DefaultSampler', shuffle=False))
        if init is not None:
            cfg['worker_init_fn'] = init
        loader = SafeRunner.build_dataloader(cfg, seed=1)
        if workers:
            assert isinstance(loader.worker_init_fn, QuietWhenMainStops)
            inner = loader.worker_init_fn.init  # still called, after it
            expected = seed_worker if init else mmengine_worker_init
            assert getattr(inner, 'func', inner) is expected
        else:  # no worker, nothing to quiet
            assert not isinstance(loader.worker_init_fn, QuietWhenMainStops)
    batch = next(iter(SafeRunner.build_dataloader(dict(cfg, num_workers=1),
                                                  seed=1)))
    assert len(batch['img_path']) == 2  # a real worker ran the wrapper
