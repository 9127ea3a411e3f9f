"""Every config parses and builds; every family recipe trains one iteration
through tools/train.py on a tiny generated ImageNet-layout folder."""
import glob
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
from conftest import REPO_ROOT
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmbackbones.cli import train as train_cli
from mmbackbones.engine.hooks import SafeCheckpointHook
from mmbackbones.models import BaseBackbone
from mmbackbones.registry import HOOKS, MODELS

CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
ALL_CONFIGS = sorted(
    p for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if '_base_' not in p and osp.basename(p) != '__init__.py')
# The family recipes: configs/<family>.py.
RECIPES = sorted(p for p in ALL_CONFIGS if osp.dirname(p) == CONFIG_DIR)


def config_id(path):
    return osp.relpath(path, CONFIG_DIR)


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=config_id)
def test_config_parses_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmbackbones'
    init_default_scope('mmbackbones')
    # On the meta device: the same modules and shapes, without allocating
    # and initialising the weights of the 145 configs (VGG-19, HRNet-W64 ...).
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert all(p.is_meta for p in model.parameters())
    backbone = getattr(model, 'backbone', model)
    assert isinstance(backbone, BaseBackbone)
    head = cfg.model.get('head')
    if head and 'in_channels' in head:
        # The head must match what the backbone gives, through the neck:
        # pooling keeps the channels, a neck that changes them says so
        # (HRNet's HRFuseScales: out_channels).
        channels = backbone.out_channels[-1]
        if getattr(model, 'with_neck', False):
            necks = (model.neck if isinstance(model.neck, nn.Sequential)
                     else [model.neck])
            for neck in necks:
                channels = getattr(neck, 'out_channels', channels)
        assert head['in_channels'] == channels


@HOOKS.register_module(force=True)
class _WeightsOnlyCheckpointHook(SafeCheckpointHook):
    """The recipe's SafeCheckpointHook, saving the weights without the
    optimizer state: the one-iteration check reads only the weights, and
    VGG-16's SGD momentum alone would add 0.55 GB to write and fsync."""

    def __init__(self, **kwargs):
        super().__init__(save_optimizer=False, **kwargs)


#: Recipes that train at their own crop: their auxiliary classifiers are
#: built for the paper's input (GoogLeNetAux's 5x5/3 pool: a 14-16 px map,
#: 223-271 px images; InceptionAux: 17x17 at Mixed_6e, 299 px images).
FULL_SIZE_RECIPES = ('googlenet.py', 'inception_v3.py')


def _crop_options(path: str, cfg: Config) -> list:
    """``--cfg-options`` items that make the recipe's training crop the
    smallest size its backbone takes (32 px, Inception's 75): the same
    pipeline, model, loss and optimizer at a few percent of the pixels."""
    if osp.basename(path) in FULL_SIZE_RECIPES:
        return []
    init_default_scope('mmbackbones')
    with torch.device('meta'):
        backbone = MODELS.build(cfg.model.backbone)
    size = max(32, backbone.min_input_size)
    pipeline = cfg.train_dataloader.dataset.pipeline
    crops = [i for i, t in enumerate(pipeline)
             if 'Crop' in getattr(t['type'], '__name__', str(t['type']))
             and 'scale' in t]
    assert len(crops) == 1, f'no single random crop to shrink: {pipeline}'
    return [f'train_dataloader.dataset.pipeline.{crops[0]}.scale={size}']


@pytest.mark.parametrize('path', RECIPES, ids=config_id)
def test_recipe_trains_one_iteration(path, tiny_imagenet, tmp_path):
    cfg = Config.fromfile(path)
    if 'imagenet' not in str(cfg.train_dataloader.dataset.get(
            'data_root', '')):
        pytest.skip('not an ImageNet recipe')
    work_dir = str(tmp_path / 'work')
    train_cli.main([
        path, '--work-dir', work_dir, '--no-validate', '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_imagenet}',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        *_crop_options(path, cfg),
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.save_best=None',
        'default_hooks.checkpoint.type=_WeightsOnlyCheckpointHook'
    ])
    checkpoints = glob.glob(os.path.join(work_dir, 'epoch_1.pth'))
    assert checkpoints, os.listdir(work_dir)
    state = torch.load(checkpoints[0], weights_only=True)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values()
               if v.is_floating_point())
