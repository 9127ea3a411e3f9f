"""Building mmengine's Runner for our tools: AMP on CPU and GPU, and
distributed launch on CPU-only machines (gloo)."""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner

from mmbackbones.engine import SafeRunner
from mmbackbones.registry import RUNNERS
from .common import ToolError


def setup_amp(cfg: Config) -> None:
    """``--amp``: fp16 + dynamic loss scaling on GPU; bfloat16 autocast on
    CPU, where mmengine's AmpOptimWrapper refuses to run."""
    # Registry names, not classes: the config must still dump as text.
    wrapper = cfg.optim_wrapper
    if torch.cuda.is_available():
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
    else:
        wrapper.type = 'CPUAutocastOptimWrapper'
        wrapper.setdefault('dtype', 'bfloat16')


def setup_launcher(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work without GPUs.

    mmengine 0.10.7 calls ``torch.cuda.set_device`` while initialising and
    gives DDP ``device_ids`` even for CPU modules; both fail on a CPU-only
    machine. There we start the gloo process group ourselves (mmengine then
    skips its own initialisation) and wrap the model without device ids.
    With GPUs nothing changes (NCCL, one device per process).
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise ToolError(f'--launcher {cfg.launcher} needs GPUs; on CPU use '
                         "--launcher pytorch (tools/dist_train.sh)")
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None  # a CPU module takes no device ids
    wrapper.setdefault('broadcast_buffers', False)
    cfg.model_wrapper_cfg = wrapper
    # Each process gets its share of the cores.
    world = int(os.environ.get('LOCAL_WORLD_SIZE', '1'))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))


def build_runner(cfg: Config) -> Runner:
    """The config's ``runner_type``, or :class:`SafeRunner` (atomic
    checkpoint files) when it names none."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return SafeRunner.from_cfg(cfg)
