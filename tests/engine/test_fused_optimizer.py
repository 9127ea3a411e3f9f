"""tools/train.py steps SGD with PyTorch's fused kernel (issue 12: the
optimizer step of the default training iteration): set only where the
config left ``fused``/``foreach`` open, and the default per-parameter
loop's update (bit for bit on whole 8-float vectors; a tensor's last
``numel % 8`` elements may round once differently, measured <= 1 ulp)."""
import copy

import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmbackbones.cli.common import load_config
from mmbackbones.cli.train import configure_speed


def _configured(config, **optimizer):
    cfg = load_config(config)
    cfg.optim_wrapper.optimizer.update(optimizer)
    configure_speed(cfg)
    return cfg


def test_sgd_recipes_get_the_fused_step_others_are_left_alone():
    assert _configured('configs/resnet.py').optim_wrapper.optimizer.fused
    # The config's own choice wins.
    for choice in (dict(foreach=False), dict(fused=False)):
        optimizer = _configured('configs/resnet.py',
                                **choice).optim_wrapper.optimizer
        assert 'fused' not in optimizer or optimizer.fused is False
        assert optimizer.get('foreach', False) is False
    # RMSprop has no fused kernel.
    assert 'fused' not in _configured(
        'configs/efficientnet.py').optim_wrapper.optimizer


def test_fused_updates_equal_the_default_loop():
    cfg = _configured('configs/resnet.py')  # momentum, weight decay, groups
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    plain_cfg = copy.deepcopy(cfg.optim_wrapper)
    plain_cfg.optimizer.pop('fused')
    plain_cfg.pop('constructor', None)
    nets = dict(fused=net, plain=copy.deepcopy(net))
    with DefaultScope.overwrite_default_scope('mmbackbones'):  # as Runner
        wrappers = dict(
            fused=build_optim_wrapper(nets['fused'],
                                      copy.deepcopy(cfg.optim_wrapper)),
            plain=build_optim_wrapper(nets['plain'], plain_cfg))
    assert wrappers['fused'].optimizer.defaults['fused'] is True
    assert not wrappers['plain'].optimizer.defaults.get('fused')
    before = [p.detach().clone() for p in net.parameters()]
    for _ in range(3):
        grads = [torch.randn_like(p) for p in net.parameters()]
        for side, model in nets.items():
            for p, g in zip(model.parameters(), grads):
                p.grad = g.clone()
            wrappers[side].step()
    moved = False
    for a, b, start in zip(nets['fused'].parameters(),
                           nets['plain'].parameters(), before):
        if a.numel() % 8 == 0:  # whole vectors: the very same bits
            assert torch.equal(a, b)
        else:  # the kernel's scalar tail rounds once differently: 1 ulp
            torch.testing.assert_close(a, b, rtol=3e-7, atol=3e-7)
        moved |= not torch.equal(a, start)
    assert moved  # the steps did update the weights

def test_resumed_state_follows_a_channels_last_run():
    """PyTorch's fused SGD walks weight, gradient and momentum as flat
    memory: a contiguous momentum buffer (as checkpoints are saved) beside a
    channels_last weight is silently mis-paired. The checkpoint hook gives
    the resumed state the run's format, so the fused step after a resume is
    the loop's step."""
    from mmbackbones.engine import ContiguousCheckpointHook
    from mmbackbones.engine.memory_format import contiguous_tensors
    torch.manual_seed(0)
    net = nn.Conv2d(4, 6, 3).to(memory_format=torch.channels_last)
    grads = [torch.randn_like(p) for p in net.parameters()]
    after = {}
    for kind, hook in (('loop', None), ('fused', None),
                       ('fused+hook', ContiguousCheckpointHook())):
        model = copy.deepcopy(net)
        options = dict(lr=0.1, momentum=0.9, weight_decay=1e-4)
        make = (lambda ps: torch.optim.SGD(ps, foreach=False, **options)) \
            if kind == 'loop' else \
            (lambda ps: torch.optim.SGD(ps, fused=True, **options))
        opt = make(model.parameters())
        for p, g in zip(model.parameters(), grads):
            p.grad = g.clone()
        opt.step()
        checkpoint = dict(optimizer=contiguous_tensors(opt.state_dict()))
        if hook is not None:
            hook.after_load_checkpoint(None, checkpoint)
        opt = make(model.parameters())  # the resumed run's optimizer
        opt.load_state_dict(checkpoint['optimizer'])
        for p, g in zip(model.parameters(), grads):
            p.grad = g.clone()
        opt.step()
        after[kind] = model.weight.detach().clone()
    torch.testing.assert_close(after['fused+hook'], after['loop'],
                               rtol=3e-7, atol=3e-7)
    # Without the hook the fused step pairs the wrong elements.
    assert (after['fused'] - after['loop']).abs().max() > 1e-3
