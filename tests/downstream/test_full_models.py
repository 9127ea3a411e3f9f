"""Full downstream models on our backbones: an mmdet Runner trains,
validates (CocoMetric), tests and resumes on a tiny generated COCO set; an
mmseg segmentor and an mmpose pose estimator train a step.

These need full mmcv's compiled ops (``mmdet.models`` imports ``mmcv.ops``;
mmcv-lite has none and PyPI has only mmcv's source). They run wherever the
project's ``models`` package imports and skip, with the import error,
everywhere else (our CI runs mmcv-lite: see docs/downstream.md).
"""
import importlib
import json
import os
import os.path as osp

import pytest
import torch
from conftest import run_tool


def models_or_skip(project: str):
    try:
        return importlib.import_module(f'{project}.models')
    except Exception as err:  # ImportError, or mmcv's version assertion
        pytest.skip(f'{project}.models does not import here (it needs full '
                    "mmcv's compiled ops; mmpose also xtcocotools): "
                    f'{type(err).__name__}: {err}')


def project_config(project: str, path: str):
    """One of an installed project's own config files (``mmengine``'s
    ``project::path`` works in ``_base_``, not in ``Config.fromfile``)."""
    from mmengine.config import Config
    package = importlib.import_module(project)
    return Config.fromfile(osp.join(osp.dirname(package.__file__), '.mim',
                                    'configs', path))


def make_tiny_coco(root: str, num_images: int = 4, size: int = 96) -> str:
    """``root/images/*.jpg`` and ``root/ann.json``: one box per image, two
    categories."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    images, annotations = [], []
    for i in range(num_images):
        name = f'{i}.jpg'
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        x, y, w, h = 16 + 4 * i, 20, 40, 36
        pixels[y:y + h, x:x + w] = 255 * (i % 2)  # something to find
        Image.fromarray(pixels).save(osp.join(root, 'images', name))
        images.append(dict(id=i, file_name=name, width=size, height=size))
        annotations.append(dict(id=i, image_id=i, category_id=1 + i % 2,
                                bbox=[x, y, w, h], area=w * h, iscrowd=0))
    with open(osp.join(root, 'ann.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=[dict(id=1, name='a'),
                                   dict(id=2, name='b')]), f)
    return root


DET_CONFIG = """
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmbackbones'], allow_failed_imports=False)
data_root = '{root}/'
metainfo = dict(classes=('a', 'b'))
model = dict(
    backbone=dict(_delete_=True, type='mmbackbones.ResNet', depth=18,
                  out_indices=(0, 1, 2, 3), frozen_stages=1, norm_eval=True),
    neck=dict(in_channels=[64, 128, 256, 512]),
    bbox_head=dict(num_classes=2),
    # one epoch leaves focal-loss scores near their 0.01 prior: keep every
    # box so CocoMetric has results to score (0.05 would drop them all)
    test_cfg=dict(score_thr=0.0))
pipeline_train = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='PackDetInputs'),
]
pipeline_test = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor')),
]
dataset = dict(data_root=data_root, ann_file='ann.json', metainfo=metainfo,
               data_prefix=dict(img='images/'))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(**dataset, pipeline=pipeline_train,
                 filter_cfg=dict(filter_empty_gt=True, min_size=8)))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(**dataset, pipeline=pipeline_test, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'ann.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
optim_wrapper = dict(optimizer=dict(lr=0.001))
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
"""


def test_mmdet_runner_train_val_test_resume(tmp_path):
    mmdet_models = models_or_skip('mmdet')
    tools = osp.join(osp.dirname(osp.dirname(mmdet_models.__file__)),
                     '.mim', 'tools')
    root = make_tiny_coco(str(tmp_path / 'coco'))
    config = tmp_path / 'retinanet_ours.py'
    config.write_text(DET_CONFIG.format(root=root))
    work = str(tmp_path / 'work')
    train = run_tool([osp.join(tools, 'train.py'), str(config),
                      '--work-dir', work], cwd=str(tmp_path))
    assert train.returncode == 0, train.stderr[-3000:]
    log = train.stdout + train.stderr
    assert 'coco/bbox_mAP' in log  # validated with CocoMetric
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    resumed = run_tool([osp.join(tools, 'train.py'), str(config),
                        '--work-dir', work, '--resume', '--cfg-options',
                        'train_cfg.max_epochs=2'], cwd=str(tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resumed epoch: 1' in resumed.stdout + resumed.stderr
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    test = run_tool([osp.join(tools, 'test.py'), str(config),
                     osp.join(work, 'epoch_2.pth'), '--work-dir', work],
                    cwd=str(tmp_path))
    assert test.returncode == 0, test.stderr[-3000:]
    assert 'coco/bbox_mAP' in test.stdout + test.stderr


def _build_with_samples(registry, model_cfg, make_sample, num=2):
    """The model (initialised) and ``num`` data samples."""
    model = registry.build(model_cfg)
    model.init_weights()
    return model, [make_sample() for _ in range(num)]


def _train_step(model, inputs, data_samples):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    losses = model.loss(inputs, data_samples)
    loss = sum(v.sum() for k, v in losses.items() if 'loss' in k)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    trained = [n for n, p in model.backbone.named_parameters()
               if p.requires_grad and p.grad is not None]
    assert trained, 'no backbone parameter received a gradient'
    return losses


def test_mmseg_train_step_on_our_hrnet():
    models_or_skip('mmseg')
    from mmengine.registry import init_default_scope
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    import mmbackbones  # noqa: F401 (what custom_imports does)
    init_default_scope('mmseg')
    cfg = project_config('mmseg', '_base_/models/fcn_hr18.py')
    cfg.model.pretrained = None
    cfg.model.backbone = dict(type='mmbackbones.HRNet', arch='w18',
                              upsample_cfg=dict(mode='bilinear',
                                                align_corners=False))
    cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    cfg.model.decode_head.num_classes = 3
    cfg.model.data_preprocessor = None

    def make_sample():
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64),
                                             ori_shape=(64, 64),
                                             pad_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 64, 64)))
        return sample

    model, samples = _build_with_samples(MODELS, cfg.model, make_sample)
    losses = _train_step(model, torch.rand(2, 3, 64, 64), samples)
    assert 'decode.loss_ce' in losses


def test_mmpose_train_step_on_our_resnet():
    models_or_skip('mmpose')
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData, PixelData
    from mmpose.registry import MODELS
    from mmpose.structures import PoseDataSample

    import mmbackbones  # noqa: F401
    init_default_scope('mmpose')
    cfg = project_config('mmpose', 'body_2d_keypoint/topdown_heatmap/coco/'
                          'td-hm_res50_8xb64-210e_coco-256x192.py')
    cfg.model.backbone = dict(type='mmbackbones.ResNet', depth=50)
    cfg.model.data_preprocessor = None

    def make_sample():
        sample = PoseDataSample(metainfo=dict(img_shape=(128, 96),
                                              input_size=(96, 128)))
        # the heatmap head upsamples stride 32 by 8: 128x96 -> 32x24
        sample.gt_fields = PixelData(heatmaps=torch.rand(17, 32, 24))
        sample.gt_instance_labels = InstanceData(
            keypoint_weights=torch.ones(1, 17))
        return sample

    model, samples = _build_with_samples(MODELS, cfg.model, make_sample)
    losses = _train_step(model, torch.rand(2, 3, 128, 96), samples)
    assert 'loss_kpt' in losses
