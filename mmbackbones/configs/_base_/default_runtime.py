# Runtime shared by every recipe: hooks, logging, environment.
from mmengine.hooks import (CheckpointHook, DistSamplerSeedHook, IterTimerHook,
                            LoggerHook, ParamSchedulerHook)
from mmengine.visualization import LocalVisBackend
from mmpretrain.engine import VisualizationHook
from mmpretrain.visualization import UniversalVisualizer

default_scope = 'mmbackbones'

default_hooks = dict(
    timer=dict(type=IterTimerHook),
    # Progress with ETA every 100 iterations.
    logger=dict(type=LoggerHook, interval=100),
    param_scheduler=dict(type=ParamSchedulerHook),
    # One checkpoint per epoch; keep the 3 newest and the best.
    checkpoint=dict(type=CheckpointHook, interval=1, max_keep_ckpts=3,
                    save_best='auto'),
    sampler_seed=dict(type=DistSamplerSeedHook),
    visualization=dict(type=VisualizationHook, enable=False),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type=LocalVisBackend)]
visualizer = dict(type=UniversalVisualizer, vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
