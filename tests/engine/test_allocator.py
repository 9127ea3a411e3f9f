"""tools/train.py's allocator set-up (mmbackbones/engine/allocator.py), in
fresh processes: it keeps freed memory (a training step no longer
page-faults its large activations in again), puts large tensors on huge
pages where the kernel allows, and changes no result."""
import json
import os
import subprocess
import sys

import pytest

from mmbackbones.engine import allocator as allocator_module
from mmbackbones.engine.allocator import (_glibc, huge_pages_allowed,
                                          tune_allocator)

# One fresh process per set-up: allocator settings are per process.
SCRIPT = r'''
import hashlib, importlib.util, json, resource, sys
# The module alone (it needs nothing else): the package would import
# mmpretrain first, seconds of start-up.
spec = importlib.util.spec_from_file_location('allocator', sys.argv[2])
allocator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(allocator)
settings = allocator.tune_allocator(sys.argv[1])
import torch
torch.manual_seed(0)
torch.set_num_threads(1)

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

# A 40 MiB activation (above glibc's largest mmap threshold, 32 MiB) made
# and freed as a training step does: count the page faults of steps 2-4.
counts = []
for _ in range(4):
    before = faults()
    x = torch.empty(10 << 20)
    x.fill_(1.0)
    del x
    counts.append(faults() - before)
# A few real training steps: the same numbers either way.
model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8),
                            torch.nn.ReLU(), torch.nn.Flatten(),
                            torch.nn.LazyLinear(4))
model(torch.rand(2, 3, 16, 16))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for _ in range(3):
    opt.zero_grad()
    model(torch.rand(2, 3, 16, 16)).square().mean().backward()
    opt.step()
digest = hashlib.sha256(b''.join(
    v.detach().numpy().tobytes() for v in model.state_dict().values()))
print(json.dumps(dict(settings=settings, faults=counts[1:],
                      state=digest.hexdigest())))
'''


def _run(allocator):
    env = {k: v for k, v in os.environ.items()
           if k not in ('THP_MEM_ALLOC_ENABLE', 'MALLOC_MMAP_MAX_',
                        'MALLOC_TRIM_THRESHOLD_')}
    out = subprocess.run([sys.executable, '-c', SCRIPT, allocator,
                          allocator_module.__file__],
                         env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(_glibc() is None, reason='the settings are glibc\'s')
def test_tuned_process_does_not_fault_its_activations_in_again():
    tuned, plain = _run('tuned'), _run('default')
    assert plain['settings'] == dict(keep_freed_memory=False,
                                     huge_pages=False)
    assert tuned['settings']['keep_freed_memory'] is True
    assert tuned['settings']['huge_pages'] is huge_pages_allowed()
    # glibc's default: every 40 MiB block is a fresh mmap, ~10,000 faults
    # (4 KiB pages); kept memory is reused (0-532 faults measured: a
    # huge-page-aligned block may leave a few pages at its edges).
    assert min(plain['faults']) > 1000, plain
    assert max(tuned['faults']) < min(plain['faults']) / 10, tuned
    assert tuned['state'] == plain['state']  # the same training results


def test_unknown_allocator_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"allocator must be one of "
                       r"\('tuned', 'default'\), got 'fast'"):
        tune_allocator('fast')


def test_huge_pages_follow_the_kernel_switch(tmp_path):
    switch = tmp_path / 'enabled'
    switch.write_text('always madvise [never]\n')
    assert not huge_pages_allowed(str(switch))
    switch.write_text('always [madvise] never\n')
    assert huge_pages_allowed(str(switch))
    assert not huge_pages_allowed(str(tmp_path / 'missing'))


def test_train_sets_the_allocator_up_before_anything_else(monkeypatch):
    """tools/train.py calls ``tune_allocator`` with ``--allocator`` (default
    tuned) first: before the config is even read (a missing one here)."""
    from mmbackbones.cli import train as train_cli
    from mmbackbones.utils import InputError
    asked = []
    monkeypatch.setattr(train_cli, 'tune_allocator', asked.append)
    for argv, expected in ((['missing.py'], 'tuned'),
                           (['missing.py', '--allocator', 'default'],
                            'default')):
        with pytest.raises(InputError, match='config file not found'):
            train_cli.main(argv)
        assert asked[-1] == expected
    assert len(asked) == 2
