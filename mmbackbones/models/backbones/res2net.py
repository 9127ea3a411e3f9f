"""Res2Net (Gao et al., "Res2Net: A New Multi-scale Backbone
Architecture", TPAMI 2021): the bottleneck's 3x3 convolution is replaced
by ``scales - 1`` smaller ones over channel splits, each also fed the
previous one's output, so one block sees several receptive fields (paper
Fig. 2). The block is :class:`~.resnet.Bottleneck` with another middle; the
network is :class:`~.resnet.ResNet` with another table.
"""
import math
from typing import Dict, List

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from ..base import check_positive_int
from ..layers.conv import conv_and_norm
from .resnet import RESNET_ARCHS, Bottleneck, ResNet, ResNetArch

__all__ = ['Res2Net', 'Bottle2neck', 'RES2NET_ARCHS', 'RES2NET_VARIANTS']


class Bottle2neck(Bottleneck):
    """The Res2Net block.

    ``conv1`` makes ``scales`` splits of ``width`` channels; split 1 goes
    through a 3x3 conv, split i > 1 through a 3x3 conv after adding the
    previous conv's output; the last split passes unchanged. The first
    block of a stage (``stage_type='stage'``) skips the additions (the
    splits have another resolution than the outputs) and average-pools the
    last split to the stage's stride.

    Keys: ``conv1``, ``bn1``, ``convs.i``, ``bns.i``, ``conv3``, ``bn3``,
    ``downsample``.

    Args:
        scales (int): Number of splits ``s`` (at least 2).
        base_width (int): Split width ``w`` in the first stage.
        stage_type (str): ``'normal'`` or ``'stage'`` (first block).
        **kwargs: :class:`~.resnet.Bottleneck` arguments.

    Example:
        >>> block = Bottle2neck(256, 256, scales=4, base_width=26)
        >>> block(torch.rand(1, 256, 8, 8)).shape, block.width
        (torch.Size([1, 256, 8, 8]), 26)
    """

    # Keyword-only after the channels, like Bottleneck's arguments.
    def __init__(self, in_channels: int, out_channels: int, *,
                 scales: int = 4,
                 base_width: int = 26,
                 stage_type: str = 'normal',
                 **kwargs):
        # One scale would be ResNet.
        check_positive_int('scales', scales, minimum=2)
        if stage_type not in ('normal', 'stage'):
            raise ValueError("stage_type must be 'normal' or 'stage', but "
                             f'got {stage_type!r}')
        # Read while Bottleneck.__init__ builds the block.
        self.scales = scales
        self.base_width = base_width
        self.stage_type = stage_type
        super().__init__(in_channels, out_channels, **kwargs)

    def bottleneck_channels(self, groups: int, width_per_group: int,
                            base_channels: int) -> int:
        # w channels per split in the first stage ("26w"), scaled with the
        # stage's plain bottleneck width.
        self.width = int(
            math.floor(self.mid_channels * self.base_width / base_channels))
        return self.width * self.scales

    def make_middle(self, channels: int, groups: int) -> None:
        # Keys convs.i and bns.i (mmpretrain's), not conv{i} / bn{i}.
        pairs = [
            conv_and_norm(self.width, self.width, 3,
                          stride=self.conv2_stride, dilation=self.dilation,
                          conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg)
            for _ in range(self.scales - 1)
        ]
        self.convs = nn.ModuleList(conv for conv, _, _ in pairs)
        self.bns = nn.ModuleList(norm for _, _, norm in pairs)
        if self.stage_type == 'stage':
            self.pool = nn.AvgPool2d(3, stride=self.conv2_stride, padding=1)

    def middle(self, x: torch.Tensor) -> torch.Tensor:
        splits = torch.split(x, self.width, dim=1)
        outs: List[torch.Tensor] = []
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            # y_i = K_i(x_i + y_{i-1}) (paper Eq. 1); no sum in a stage's
            # first block.
            sp = splits[i] if i == 0 or self.stage_type == 'stage' else (
                outs[-1] + splits[i])
            outs.append(self.relu(bn(conv(sp))))
        last = splits[-1]
        outs.append(self.pool(last) if self.stage_type == 'stage' else last)
        return torch.cat(outs, dim=1)


#: Gao et al. Table 1 / Table 4: Res2Net-50 and -101 (mmpretrain adds 152).
RES2NET_ARCHS: Dict[int, ResNetArch] = {
    depth: ResNetArch(Bottle2neck, RESNET_ARCHS[depth].stage_blocks)
    for depth in (50, 101, 152)
}

#: The released variants (paper Tables 1-5), as constructor arguments; the
#: "v1b" form adds the deep stem and average-pooled shortcuts.
RES2NET_VARIANTS: Dict[str, dict] = {
    '50_26w_4s': dict(depth=50, base_width=26, scales=4),
    '50_26w_6s': dict(depth=50, base_width=26, scales=6),
    '50_26w_8s': dict(depth=50, base_width=26, scales=8),
    '50_48w_2s': dict(depth=50, base_width=48, scales=2),
    '50_14w_8s': dict(depth=50, base_width=14, scales=8),
    '101_26w_4s': dict(depth=101, base_width=26, scales=4),
}


@MODELS.register_module()
class Res2Net(ResNet):
    """Res2Net backbone.

    As in mmpretrain, ``deep_stem`` and ``avg_down`` default to True (the
    "v1b" form); the paper's original Res2Net-50 is ``deep_stem=False,
    avg_down=False``.

    Args:
        depth (int | dict): 50, 101 or 152.
        scales (int): Splits per block ``s``.
        base_width (int): Split width ``w`` in the first stage.
        deep_stem (bool): Three 3x3 stem convolutions.
        avg_down (bool): Average-pool before strided shortcut projections.
        **kwargs: :class:`~.resnet.ResNet` arguments.

    Example ("26w_4s": 4 splits of 26 channels in the first stage, three
    of them through a 3x3 convolution; the width doubles per stage):
        >>> model = Res2Net(depth=50, scales=4, base_width=26)
        >>> [s[0].width for s in model.stage_modules()]
        [26, 52, 104, 208]
        >>> len(model.layer1[0].convs)
        3
    """

    ARCHS = RES2NET_ARCHS

    def __init__(self,
                 depth,
                 scales: int = 4,
                 base_width: int = 26,
                 deep_stem: bool = True,
                 avg_down: bool = True,
                 **kwargs):
        check_positive_int('base_width', base_width)
        # Read by block_kwargs() while ResNet.__init__ builds the stages.
        self.scales = scales
        self.base_width = base_width
        super().__init__(depth, deep_stem=deep_stem, avg_down=avg_down,
                         **kwargs)

    def block_kwargs(self) -> dict:
        return dict(scales=self.scales, base_width=self.base_width,
                    base_channels=self.base_channels)

    def make_res_layer(self, **kwargs) -> nn.Sequential:
        # The first block of a stage is the 'stage' type; with avg_down the
        # shortcut keeps a pool slot even at stride 1 (mmpretrain's keys).
        return super().make_res_layer(
            first_block_kwargs=dict(stage_type='stage'), keep_pool_slot=True,
            **kwargs)
