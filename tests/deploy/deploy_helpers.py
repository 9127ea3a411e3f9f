"""Models for the deploy tests, importable by configs (``custom_imports``).

Not a test module: pytest puts this folder on ``sys.path``, and the tool's
subprocess gets it through ``PYTHONPATH``.
"""
from typing import List

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModel

from mmbackbones.models import RepVGGBlock
from mmbackbones.registry import MODELS


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny inputs run as fast on one torch thread, and much faster when
    other processes compete for the cores (import it into a test module)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@MODELS.register_module(force=True)
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
    """A RepVGG block whose re-parameterisation is wrong (a bias offset):
    the deploy tool must refuse its output."""

    def equivalent_kernel_bias(self):
        kernel, bias = super().equivalent_kernel_bias()
        return kernel, bias + 0.1


@MODELS.register_module(force=True)
class WrongReparamNet(nn.Module):

    def __init__(self):
        super().__init__()
        self.block = WrongReparamBlock(3, 8, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)
