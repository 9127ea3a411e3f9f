"""Models and set-up for the deploy tests.

Not a test module, and nothing here is registered: configs name these
classes by import path (``type='deploy_helpers.TinyDetector'``), which
mmengine's registry resolves by importing this module (pytest puts this
folder on ``sys.path``; the tool's subprocess gets it through
``PYTHONPATH``), so no test changes the registry another test sees.
"""
from typing import Iterator, List

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModel

from mmbackbones.models import RepVGGBlock
from mmbackbones.registry import MODELS

def single_thread() -> Iterator[None]:
    """Run a test on one torch thread: tiny inputs run as fast, and much
    faster when other processes compete for the cores. A test module makes
    it its autouse fixture, visibly:
    ``one_thread = pytest.fixture(autouse=True)(single_thread)``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


#: The config ``type`` of each model here.
TINY_DETECTOR = 'deploy_helpers.TinyDetector'
WRONG_REPARAM_NET = 'deploy_helpers.WrongReparamNet'


class TinyDetector(BaseModel):
    """A detector-shaped model: any backbone (built from its config, as
    mmdet does), a neck of conv-BN-ReLU per level and a head shared by all
    levels (one conv-BN called once per level). ``mode='tensor'`` returns
    the per-level head outputs, like mmdet's ``_forward``."""

    def __init__(self, backbone: dict, in_channels: List[int],
                 neck_channels: int = 16, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.backbone = MODELS.build(backbone)
        self.neck = nn.ModuleList(
            ConvModule(c, neck_channels, 1, norm_cfg=dict(type='BN'))
            for c in in_channels)
        self.head = nn.Sequential(
            nn.Conv2d(neck_channels, neck_channels, 3, padding=1,
                      bias=False), nn.BatchNorm2d(neck_channels), nn.ReLU(),
            nn.Conv2d(neck_channels, 4, 1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode != 'tensor':
            raise NotImplementedError(mode)
        feats = self.backbone(inputs)
        return [self.head(neck(f)) for neck, f in zip(self.neck, feats)]


class WrongReparamBlock(RepVGGBlock):
    """A RepVGG block whose re-parameterisation is wrong (a bias offset
    after the switch): the deploy tool must refuse its output."""

    def switch_to_deploy(self) -> None:
        was_deploy = self.deploy
        super().switch_to_deploy()
        if not was_deploy:
            with torch.no_grad():
                self.branch_reparam.bias += 0.1


class WrongReparamNet(nn.Module):

    def __init__(self):
        super().__init__()
        self.block = WrongReparamBlock(3, 8, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)
