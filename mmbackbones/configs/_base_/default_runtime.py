# Runtime shared by every recipe: hooks, logging, environment.
from mmengine.hooks import (DistSamplerSeedHook, IterTimerHook, LoggerHook,
                            ParamSchedulerHook, SyncBuffersHook)
from mmengine.visualization import LocalVisBackend
from mmpretrain.engine import VisualizationHook
from mmpretrain.visualization import UniversalVisualizer

from mmbackbones.engine import (ExactResumeHook, RankConsistencyHook,
                                SafeCheckpointHook, SafeRunner)

default_scope = 'mmbackbones'
# Checkpoints written atomically (temporary file, fsync, rename).
runner_type = SafeRunner

default_hooks = dict(
    timer=dict(type=IterTimerHook),
    # Progress with ETA every 100 iterations.
    logger=dict(type=LoggerHook, interval=100),
    param_scheduler=dict(type=ParamSchedulerHook),
    # One checkpoint per epoch; keep the 3 newest and the best. The new one
    # is saved before the oldest is deleted.
    checkpoint=dict(type=SafeCheckpointHook, interval=1, max_keep_ckpts=3,
                    save_best='auto'),
    sampler_seed=dict(type=DistSamplerSeedHook),
    visualization=dict(type=VisualizationHook, enable=False),
)

custom_hooks = [
    # Random states saved and restored, reseeded per epoch: exact resume.
    dict(type=ExactResumeHook),
    # Average BN statistics over ranks at each epoch's end, then check that
    # every rank holds the same model (no-ops in a single process).
    dict(type=SyncBuffersHook),
    dict(type=RankConsistencyHook),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # timeout: seconds a collective waits for a silent rank before the run
    # stops naming it (MMBACKBONES_DIST_TIMEOUT overrides; see cli/runner.py)
    dist_cfg=dict(backend='nccl', timeout=300),
)

vis_backends = [dict(type=LocalVisBackend)]
visualizer = dict(type=UniversalVisualizer, vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
# load_from may differ from the model only under these key prefixes (a new
# head when fine-tuning); True loads whatever fits (mmbackbones.engine.fit).
load_from_partial = ['head.']
resume = False
randomness = dict(seed=None, deterministic=False)
