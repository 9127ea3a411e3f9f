"""--amp on CPU: bfloat16 autocast (mmengine's AmpOptimWrapper refuses
CPU)."""
import glob
import os.path as osp

import pytest
import torch
from conftest import DEMO_CONFIG, demo_options
from mmengine.config import Config

from mmbackbones.cli import train as train_cli
from mmbackbones.cli.runner import setup_amp
from mmbackbones.engine import CPUAutocastOptimWrapper


def test_optim_context_autocasts_to_bfloat16():
    model = torch.nn.Linear(4, 4)
    wrapper = CPUAutocastOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        out = model(torch.rand(2, 4))
    assert out.dtype == torch.bfloat16
    assert model(torch.rand(2, 4)).dtype == torch.float32  # outside: fp32
    with pytest.raises(ValueError, match="dtype must be 'bfloat16'"):
        CPUAutocastOptimWrapper(
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            dtype='int8')


@pytest.fixture
def native_bf16(monkeypatch):
    """--amp refuses a CPU without native bfloat16 (tested in
    test_speed_memory_format.py); these tests are about the wrapper, on
    any CPU."""
    from mmbackbones.cli import runner
    monkeypatch.setattr(runner, 'cpu_has_native_bf16', lambda: True)


def test_setup_amp_picks_the_cpu_wrapper_without_gpus(native_bf16):
    cfg = Config.fromfile(DEMO_CONFIG)
    setup_amp(cfg)
    if torch.cuda.is_available():
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    else:
        assert cfg.optim_wrapper.type == 'CPUAutocastOptimWrapper'
        assert cfg.optim_wrapper.dtype == 'bfloat16'


def test_train_with_amp_on_cpu(digits_root, tmp_path, native_bf16):
    work_dir = str(tmp_path)
    train_cli.main([
        DEMO_CONFIG, '--amp', '--work-dir', work_dir, '--no-validate',
        *demo_options(digits_root, 1, 'train_dataloader.num_workers=0',
                      'train_dataloader.dataset.data_prefix=val')
    ])
    state = torch.load(osp.join(work_dir, 'epoch_1.pth'),
                       weights_only=True)['state_dict']
    # Master weights stay fp32 and finite.
    assert state['backbone.conv1.conv.weight'].dtype == torch.float32
    assert all(torch.isfinite(v).all() for v in state.values()
               if v.is_floating_point())
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert any('CPUAutocastOptimWrapper' in open(p).read() for p in logs)
