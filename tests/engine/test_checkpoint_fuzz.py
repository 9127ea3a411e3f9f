"""Seeded truncations and byte flips of a small real checkpoint: every
outcome is a successful load or one CheckpointError, nothing else.

Before the fix, 299 of 300 truncations and 128 of 300 byte flips of such a
file escaped as struct.error / IndexError / UnicodeDecodeError / KeyError /
TypeError / ValueError (issue 10, item 3).
"""
import io
import random

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from mmbackbones.engine import CheckpointError, load_checkpoint_file


def _small_checkpoint(legacy: bool) -> bytes:
    """A tiny model's state dict plus an mmengine-style meta and message
    hub (HistoryBuffer, NumPy arrays and scalars), as torch.save writes."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3),
                                torch.nn.BatchNorm2d(4),
                                torch.nn.Linear(4, 2))
    hub = MessageHub.get_instance('fuzz_checkpoint')
    for step in range(3):
        hub.update_scalar('train/loss', 1.0 / (step + 1))
    hub.update_info('iter', 3)
    checkpoint = dict(
        meta=dict(epoch=1, iter=3, seed=0, mean=np.float64(0.5),
                  counts=np.arange(4, dtype=np.int64)),
        state_dict=model.state_dict(), message_hub=hub.state_dict())
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


def _outcome(data: bytes, path) -> str:
    path.write_bytes(data)
    try:
        load_checkpoint_file(str(path))
    except CheckpointError as err:
        assert str(path) in str(err) and '\n' not in str(err).strip()
        return 'refused'
    return 'loaded'


@pytest.mark.parametrize('legacy', [False, True], ids=['zip', 'legacy'])
def test_truncations_and_byte_flips_load_or_refuse(legacy, tmp_path):
    data = _small_checkpoint(legacy)
    assert _outcome(data, tmp_path / 'intact.pth') == 'loaded'
    rng = random.Random(10)
    outcomes = {'loaded': 0, 'refused': 0}
    cases = 300 if not legacy else 100
    for i in range(cases):  # truncations, the empty file included
        cut = 0 if i == 0 else rng.randrange(len(data))
        outcomes[_outcome(data[:cut], tmp_path / f'cut{cut}.pth')] += 1
    for i in range(cases):  # one to three flipped bytes
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            flipped[rng.randrange(len(data))] ^= rng.randrange(1, 256)
        outcomes[_outcome(bytes(flipped), tmp_path / f'flip{i}.pth')] += 1
    # Every case ended in one of the two outcomes (anything else raised).
    assert sum(outcomes.values()) == 2 * cases
    assert outcomes['refused'] >= cases  # all truncations at least
