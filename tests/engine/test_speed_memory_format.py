"""Fast by default without changing results: channels_last training
(``--memory-format``), contiguous checkpoints that load into the contiguous
model and into mmpretrain's backbone, and the flags that reach the runner
(``--compile``, ``--amp``'s hardware check). No speed number is asserted
here (docs/benchmarks.md has them)."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import DEMO_CONFIG, demo_options
from mmengine.config import Config

from mmbackbones.analysis import memory_format as decisions
from mmbackbones.cli import runner as runner_cli
from mmbackbones.cli import train as train_cli
from mmbackbones.cli.common import ToolError, call_tool
from mmbackbones.engine import (MemoryFormatClsDataPreprocessor,
                                load_checkpoint_file)
from mmbackbones.registry import MODELS

SMALL = 'train_dataloader.dataset.data_prefix=val'
CL = torch.channels_last


def _relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def test_data_preprocessor_hands_channels_last_batches_with_mixup():
    from mmpretrain.models import ClsDataPreprocessor
    from mmpretrain.structures import DataSample
    kwargs = dict(mean=[10., 20., 30.], std=[2., 3., 4.], to_rgb=True,
                  num_classes=5,
                  batch_augments=dict(augments=[dict(type='Mixup',
                                                     alpha=0.2)]))
    ours = MemoryFormatClsDataPreprocessor(**kwargs)
    plain = ClsDataPreprocessor(**kwargs)
    images = [torch.randint(0, 256, (3, 12, 12), dtype=torch.uint8)
              for _ in range(4)]

    def batch():
        return dict(inputs=list(images),
                    data_samples=[DataSample().set_gt_label(i)
                                  for i in range(4)])

    # Mixup draws from numpy (lambda) and torch (the permutation).
    np.random.seed(1), torch.manual_seed(1)
    out = ours(batch(), training=True)
    np.random.seed(1), torch.manual_seed(1)
    expected = plain(batch(), training=True)
    assert out['inputs'].is_contiguous(memory_format=CL)
    assert not expected['inputs'].is_contiguous(memory_format=CL)
    # Same values (normalised, mixed), only the strides differ.
    torch.testing.assert_close(out['inputs'], expected['inputs'], rtol=0,
                               atol=0)
    with pytest.raises(ValueError, match='memory_format must be one of'):
        MemoryFormatClsDataPreprocessor(memory_format='nhwc')


def test_auto_follows_the_recorded_measurement(monkeypatch):
    monkeypatch.setitem(decisions.TRAIN_MEMORY_FORMAT, 'ShuffleNetV2',
                        decisions.Measured('channels_last', 1.2, 1.2, 'x'))
    cfg = Config.fromfile(DEMO_CONFIG)
    assert runner_cli.setup_memory_format(cfg, None) == 'channels_last'
    assert cfg.memory_format == 'channels_last'
    assert cfg.data_preprocessor.type == 'MemoryFormatClsDataPreprocessor'
    # --memory-format overrides the recorded default.
    cfg = Config.fromfile(DEMO_CONFIG)
    assert runner_cli.setup_memory_format(cfg, 'contiguous') == 'contiguous'
    assert 'type' not in cfg.data_preprocessor
    # A family not measured stays contiguous.
    monkeypatch.delitem(decisions.TRAIN_MEMORY_FORMAT, 'ShuffleNetV2')
    cfg = Config.fromfile(DEMO_CONFIG)
    assert runner_cli.setup_memory_format(cfg, 'auto') == 'contiguous'
    cfg.memory_format = 'nchw'
    with pytest.raises(ToolError, match="memory_format must be one of"):
        runner_cli.setup_memory_format(cfg, None)


def test_every_recorded_decision_is_backed_by_its_ratio():
    for family, found in decisions.TRAIN_MEMORY_FORMAT.items():
        assert found.memory_format in ('channels_last', 'contiguous')
        # Both ratios (median and fastest steps) must clear the bar.
        assert (found.memory_format == 'channels_last') == (
            min(found.speedup, found.fastest_speedup)
            >= decisions.THRESHOLD), family
        assert MODELS.get(family) is not None, family


def _load_into(model_cfg, state, memory_format):
    model = MODELS.build(copy.deepcopy(model_cfg)).eval()
    model.load_state_dict(state, strict=True)
    return model.to(memory_format=memory_format)


def test_channels_last_demo_checkpoint_is_contiguous_and_loads_anywhere(
        digits_root, tmp_path):
    work_dir = str(tmp_path)
    train_cli.main([
        DEMO_CONFIG, '--memory-format', 'channels_last', '--work-dir',
        work_dir, '--no-validate',
        *demo_options(digits_root, 1, 'train_dataloader.num_workers=0',
                      SMALL)
    ])
    checkpoint = load_checkpoint_file(osp.join(work_dir, 'epoch_1.pth'))
    state = checkpoint['state_dict']
    assert state['backbone.conv1.conv.weight'].dim() == 4
    # Saved contiguous: weights and the optimizer's momentum buffers.
    assert all(v.is_contiguous() for v in state.values())
    assert all(v.is_contiguous()
               for s in checkpoint['optimizer']['state'].values()
               for v in s.values() if isinstance(v, torch.Tensor))

    cfg = Config.fromfile(DEMO_CONFIG)
    x = torch.rand(2, 3, 32, 32)
    contiguous = _load_into(cfg.model, state, torch.contiguous_format)
    channels_last = _load_into(cfg.model, state, CL)
    with torch.no_grad():
        expected = contiguous(x, mode='tensor')
        got = channels_last(x.contiguous(memory_format=CL), mode='tensor')
    assert _relative_error(got, expected) < 1e-5

    # ... and into mmpretrain's own ShuffleNetV2, key for key.
    import mmpretrain.models  # noqa: F401
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    theirs = MMPRETRAIN_MODELS.build(dict(type='ShuffleNetV2',
                                          widen_factor=1.0)).eval()
    theirs.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()
                            if k.startswith('backbone.')}, strict=True)
    with torch.no_grad():
        assert _relative_error(theirs(x)[-1],
                               contiguous.backbone(x)[-1]) < 1e-5


def test_the_runner_trains_the_model_in_channels_last(tmp_path):
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.work_dir, cfg.launcher, cfg.log_level = str(tmp_path), 'none', \
        'WARNING'
    train_cli.configure_speed(cfg, memory_format='channels_last')
    runner = runner_cli.build_runner(cfg)
    try:
        convs = [p for p in runner.model.parameters() if p.dim() == 4]
        assert convs and all(p.is_contiguous(memory_format=CL)
                             for p in convs)
        assert type(runner.model.data_preprocessor).__name__ == \
            'MemoryFormatClsDataPreprocessor'
        hooks = [type(h).__name__ for h in runner.hooks]
        assert 'ContiguousCheckpointHook' in hooks
    finally:
        runner.release_work_dir()


def test_compile_reaches_the_runner_config():
    args = train_cli.parse_args([DEMO_CONFIG, '--compile'])
    cfg = Config.fromfile(DEMO_CONFIG)
    train_cli.configure_speed(cfg, args.amp, args.compile, 'contiguous')
    # Our compile_model (the model's parts, tests/engine/test_compile.py),
    # not mmengine's compile (the whole train_step, recompiled by Mixup).
    assert cfg.compile_model == dict(backend='inductor')
    assert 'compile' not in cfg
    args = train_cli.parse_args([DEMO_CONFIG, '--compile', 'aot_eager'])
    cfg = Config.fromfile(DEMO_CONFIG)
    train_cli.configure_speed(cfg, args.amp, args.compile, 'contiguous')
    assert cfg.compile_model == dict(backend='aot_eager')
    cfg = Config.fromfile(DEMO_CONFIG)
    train_cli.configure_speed(cfg, memory_format='contiguous')
    assert 'compile' not in cfg and 'compile_model' not in cfg


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path')
def test_amp_refuses_emulated_bf16(monkeypatch, tmp_path, capsys):
    # The probe is the hardware; pretend this CPU lacks native bfloat16.
    monkeypatch.setattr(runner_cli, 'cpu_has_native_bf16', lambda: False)
    cfg = Config.fromfile(DEMO_CONFIG)
    with pytest.raises(ToolError, match='7-12x SLOWER'):
        runner_cli.setup_amp(cfg)
    code = call_tool(train_cli.main, [DEMO_CONFIG, '--amp', '--work-dir',
                                      str(tmp_path)], prog='train.py')
    assert code == 2
    err = capsys.readouterr().err
    assert '_is_mkldnn_bf16_supported() is False' in err
    assert not osp.exists(osp.join(str(tmp_path), 'epoch_1.pth'))
    # With native bfloat16: the CPU autocast wrapper.
    monkeypatch.setattr(runner_cli, 'cpu_has_native_bf16', lambda: True)
    cfg = Config.fromfile(DEMO_CONFIG)
    runner_cli.setup_amp(cfg)
    assert cfg.optim_wrapper.type == 'CPUAutocastOptimWrapper'


def test_merged_param_groups_give_the_same_updates():
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(DEMO_CONFIG)
    model = MODELS.build(copy.deepcopy(cfg.model.backbone))
    twin = copy.deepcopy(model)
    plain = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    grouped_cfg = copy.deepcopy(cfg.optim_wrapper)
    grouped_cfg['constructor'] = 'GroupedOptimWrapperConstructor'
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmbackbones'):  # as Runner
        grouped = build_optim_wrapper(twin, grouped_cfg)
    n_plain = len(plain.optimizer.param_groups)
    n_grouped = len(grouped.optimizer.param_groups)
    assert n_grouped <= 3 < n_plain
    assert all(type(g) is dict for g in grouped.optimizer.param_groups)
    x = torch.rand(2, 3, 32, 32)
    for _ in range(2):
        for net, wrapper in ((model, plain), (twin, grouped)):
            wrapper.update_params(net(x)[-1].square().mean())
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    # tools/train.py merges them by default.
    cfg = Config.fromfile(DEMO_CONFIG)
    train_cli.configure_speed(cfg, memory_format='contiguous')
    assert cfg.optim_wrapper.constructor == 'GroupedOptimWrapperConstructor'
