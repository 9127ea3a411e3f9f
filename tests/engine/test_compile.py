"""``--compile`` compiles once (:mod:`mmbackbones.engine.compile`): the
backbone, neck and head in place, the data preprocessor (Mixup) eager.

With Dynamo's cheap backends (``aot_eager`` traces forward and backward,
``eager`` the forward): no graph break and no recompilation over the
Mixup training steps of a few families, outputs and gradients equal to
eager (fp32, 1e-5), checkpoint keys unchanged. The real inductor speed is
measured by tools/analysis/train_speed.py --compile (docs/benchmarks.md),
never here."""
import copy

import numpy as np
import pytest
import torch
import torch._dynamo
from conftest import DEMO_CONFIG, demo_options
from mmengine.optim import OptimWrapper

from mmbackbones.cli import train as train_cli
from mmbackbones.engine import (compile_model, compile_options, is_compiled,
                                load_checkpoint_file)
from mmbackbones.registry import MODELS
from mmbackbones.utils import load_config

SHAPE = 48
BATCH = 4


def _relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def _classifier(config, head_channels=None, **backbone):
    """The config's classifier (Mixup on, as every ImageNet config has it)
    with a small head; ``backbone`` overrides backbone arguments."""
    cfg = load_config(config)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.update(backbone)
    model_cfg.head.num_classes = 10
    if head_channels:
        model_cfg.head.in_channels = head_channels
    model_cfg.data_preprocessor = dict(
        type='ClsDataPreprocessor', num_classes=10, mean=[123.7, 116.3, 103.5],
        std=[58.4, 57.1, 57.4], to_rgb=True,
        batch_augments=dict(augments=[dict(type='Mixup', alpha=0.2)]))
    model_cfg.pop('train_cfg', None)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


def _batch(seed):
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    images = [torch.randint(0, 256, (3, SHAPE, SHAPE), generator=gen,
                            dtype=torch.uint8) for _ in range(BATCH)]
    labels = torch.randint(0, 10, (BATCH, ), generator=gen)
    return dict(inputs=images,
                data_samples=[DataSample().set_gt_label(int(k))
                              for k in labels])


def _loss_and_grads(model, seed):
    """One training forward + backward with Mixup seeded by ``seed``."""
    model.train()
    np.random.seed(seed)  # Mixup's lambda
    torch.manual_seed(seed)  # Mixup's permutation
    data = model.data_preprocessor(_batch(seed), True)
    for p in model.parameters():
        p.grad = None
    losses = model(**data, mode='loss')
    loss = sum(v for v in losses.values())
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in model.named_parameters()
                           if p.grad is not None}


# Two structural kinds (channel shuffle + depthwise; plain residual): the
# graph-break count of every form is tests/test_conformance.py's
# (test_compile_fullgraph_forward_backward); this file checks the Runner
# path -- whole classifier, Mixup steps, no recompilation.
FAMILIES = {
    'shufflenet_v2': ('configs/shufflenet_v2.py', {}),
    'resnet18': ('configs/resnet.py', dict(depth=18, head_channels=512)),
}


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_compiled_training_matches_eager_without_breaks_or_recompiles(
        family, monkeypatch):
    config, backbone = FAMILIES[family]
    eager = _classifier(config, **backbone)
    compiled = copy.deepcopy(eager)
    keys = list(compiled.state_dict())
    params = list(compiled.parameters())
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()
    assert compile_model(compiled, dict(backend='aot_eager')) == [
        'backbone', 'neck', 'head']
    assert all(is_compiled(getattr(compiled, n))
               for n in ('backbone', 'neck', 'head'))
    assert not is_compiled(compiled.data_preprocessor)
    # In place: same parameters (optimizer, DDP), same checkpoint keys.
    assert list(compiled.state_dict()) == keys
    assert all(a is b for a, b in zip(compiled.parameters(), params))

    loss, grads = _loss_and_grads(compiled, seed=1)
    want_loss, want_grads = _loss_and_grads(eager, seed=1)
    assert _relative_error(loss, want_loss) < 1e-5
    assert grads.keys() == want_grads.keys()
    worst = max(_relative_error(grads[n], want_grads[n]) for n in grads)
    assert worst < 1e-5, f'{family}: gradients differ by {worst:.2e}'
    assert not counters['graph_break'], dict(counters['graph_break'])

    # Four more Mixup steps, each with a new lambda, through the optimizer
    # wrapper as mmengine's train loop does: nothing compiles again.
    graphs = counters['stats']['unique_graphs']
    assert graphs >= 3  # backbone, neck, head
    monkeypatch.setattr(torch._dynamo.config, 'error_on_recompile', True)
    wrapper = OptimWrapper(torch.optim.SGD(compiled.parameters(), lr=0.01,
                                           momentum=0.9))
    compiled.train()
    for seed in range(2, 6):
        np.random.seed(seed)
        losses = compiled.train_step(_batch(seed), wrapper)
        assert all(torch.isfinite(v).all() for v in losses.values())
    assert counters['stats']['unique_graphs'] == graphs
    assert not counters['graph_break'], dict(counters['graph_break'])


def test_compile_options_name_the_key_and_valid_values():
    assert compile_options(None) is None and compile_options(False) is None
    assert compile_options(True) == {}
    assert compile_options('eager') == dict(backend='eager')
    assert compile_options(dict(backend='eager', fullgraph=True)) == dict(
        backend='eager', fullgraph=True)
    with pytest.raises(ValueError, match=r"compile_model has unknown keys "
                       r"\['target'\]; valid keys.*'backend'"):
        compile_options(dict(target='train_step'))
    with pytest.raises(ValueError, match='compile_model.backend must be'):
        compile_options(dict(backend=''))
    with pytest.raises(TypeError, match='compile_model must be a bool'):
        compile_options(3)


def test_a_model_without_parts_is_compiled_whole():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    assert compile_model(model, 'eager') == ['(model)']
    assert is_compiled(model)
    assert compile_model(torch.nn.Linear(2, 2), None) == []


def test_train_with_compile_compiles_the_parts_once_and_saves_plain_keys(
        digits_root, tmp_path):
    """tools/train.py --compile eager: SafeRunner compiles the parts in
    place, mmengine's compile option stays unset (train_step is not
    compiled), and the checkpoint loads into an uncompiled model."""
    work_dir = tmp_path / 'w'
    args = [DEMO_CONFIG, '--compile', 'eager', '--work-dir', str(work_dir),
            '--no-validate', *demo_options(
                digits_root, 1, 'train_dataloader.num_workers=0',
                'train_dataloader.dataset.data_prefix=val')]
    cfg = load_config(DEMO_CONFIG)
    train_cli.configure_speed(cfg, compile_backend='eager',
                              memory_format='contiguous')
    assert cfg.compile_model == dict(backend='eager')
    assert 'compile' not in cfg  # mmengine's: train_step stays eager
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()
    train_cli.main(args)
    # Backbone, neck and head: one graph each (train mode); the demo's
    # 9 iterations, the last one a smaller batch, add at most the
    # dynamic-shape version of each.
    assert 3 <= counters['stats']['unique_graphs'] <= 6
    assert not counters['graph_break'], dict(counters['graph_break'])
    state = load_checkpoint_file(str(work_dir / 'epoch_1.pth'))['state_dict']
    assert not [k for k in state if '_orig_mod' in k]
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.load_state_dict(state, strict=True)
