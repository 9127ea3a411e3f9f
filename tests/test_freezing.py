"""``frozen_stages=k`` freezes what mmpretrain's backbone freezes.

For every family mmpretrain also has, our backbone and mmpretrain's,
built with the same arguments, must leave the same parameters frozen (and
at least the same norm layers in eval mode) after ``train()``, for every
``k`` both accept. The parameter names are comparable because our checkpoints load
into mmpretrain's backbones key for key (asserted first).

Each model is built once (small variants) and ``k`` raised step by step:
``frozen_stages`` is re-read by every ``train()`` in both libraries, and
freezing a larger ``k`` only adds to a smaller one's. That ``k`` is also
accepted by the constructor is checked on the meta device.
"""
import warnings

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

import mmbackbones.models as ours

with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    import mmpretrain.models.backbones as theirs

_SMALL = dict(stem_channels=16, base_channels=16)
_NARROW = dict(groups=4, width_per_group=4)

#: (class name, arguments, frozen_stages values both libraries accept).
#: The ranges are mmpretrain's (ours may accept more: every unit).
CASES = [
    ('ResNet', dict(depth=18, **_SMALL), range(-1, 5)),
    ('ResNetV1c', dict(depth=18, **_SMALL), range(-1, 5)),
    ('ResNetV1d', dict(depth=18, **_SMALL), range(-1, 5)),
    ('ResNeXt', dict(depth=50, **_NARROW, **_SMALL), range(-1, 5)),
    ('SEResNet', dict(depth=50, **_SMALL), range(-1, 5)),
    ('SEResNeXt', dict(depth=50, **_NARROW, **_SMALL), range(-1, 5)),
    ('Res2Net', dict(depth=50, **_SMALL), range(-1, 5)),
    ('ResNeSt', dict(depth=50, **_SMALL), range(-1, 5)),
    ('MobileNetV2', dict(widen_factor=0.35), range(-1, 8)),
    ('MobileNetV3', dict(arch='small'), range(-1, 13)),
    ('ShuffleNetV1', dict(groups=1, widen_factor=0.25), range(-1, 3)),
    ('ShuffleNetV2', dict(widen_factor=0.5), range(-1, 4)),
    ('RepVGG', dict(arch='A0'), range(-1, 5)),
    ('DenseNet',
     dict(arch=dict(growth_rate=8, depths=(2, 2, 2, 2), init_channels=16)),
     range(-1, 5)),
    # mmpretrain's EfficientNet takes 0..7 (0: nothing; it accepts 8 but
    # fails at train()), not -1.
    ('EfficientNet', dict(arch='b0'), range(0, 8)),
    ('CSPDarkNet', dict(depth=53), range(-1, 5)),
    ('CSPResNet', dict(depth=50), range(-1, 4)),
    ('CSPResNeXt', dict(depth=50), range(-1, 4)),
    ('VGG', dict(depth=11), range(-1, 6)),
]


def _frozen(model: torch.nn.Module):
    model.train()
    params = {n for n, p in model.named_parameters() if not p.requires_grad}
    norms = {n for n, m in model.named_modules()
             if isinstance(m, _BatchNorm) and not m.training}
    return params, norms


@pytest.mark.parametrize('name, args, ks', CASES,
                         ids=[case[0] for case in CASES])
def test_frozen_stages_freezes_what_mmpretrain_freezes(name, args, ks):
    torch.manual_seed(0)
    mine = getattr(ours, name)(**args)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        reference = getattr(theirs, name)(**args)
    assert sorted(mine.state_dict()) == sorted(reference.state_dict())
    with torch.device('meta'):  # the constructor takes the largest k
        assert getattr(ours, name)(frozen_stages=ks[-1], **args)
    previous = set()
    for k in ks:
        mine.frozen_stages = reference.frozen_stages = k
        got, expected = _frozen(mine), _frozen(reference)
        assert got[0] == expected[0], (
            f'frozen_stages={k}: only ours froze '
            f'{sorted(got[0] - expected[0])[:4]}, only mmpretrain froze '
            f'{sorted(expected[0] - got[0])[:4]}')
        # Norm layers: mmpretrain's MobileNetV2 / ShuffleNets leave the
        # frozen stem's BN in train mode (its statistics keep moving); ours
        # put every frozen norm in eval mode, and no other.
        assert expected[1] <= got[1], f'frozen_stages={k}: norm modes'
        assert all(any(p.startswith(n + '.') for p in got[0])
                   for n in got[1] - expected[1]), k
        # Each step freezes more: the comparison is not vacuous.
        assert k <= ks[0] + 1 or got[0] > previous, k
        previous = got[0]
