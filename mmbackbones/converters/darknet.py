"""Darknet-53 weights: timm ``darknet53``.

Our names are mmdet's ``Darknet``, so mmdet checkpoints need no converter
(take the ``backbone.`` part); timm's ``darknet53`` is the same network
with LeakyReLU(0.01) instead of the paper's 0.1 (declared below: the
matching config of tools/convert_weights.py sets it).
"""
from .base import register_converter, rename_keys
from .settings import Implied, declare_source


@register_converter('timm', 'Darknet')
def from_timm(state_dict, backbone):
    # stem.conv1 -> conv1; stages.i.conv_down -> conv_res_block{i+1}.conv;
    # stages.i.blocks.j -> conv_res_block{i+1}.res{j}.
    rules = [(r'^stem\.conv1\.', 'conv1.')]
    for i in range(len(backbone.cr_blocks) - 1):
        rules += [(rf'^stages\.{i}\.conv_down\.',
                   f'conv_res_block{i + 1}.conv.'),
                  (rf'^stages\.{i}\.blocks\.(\d+)\.',
                   rf'conv_res_block{i + 1}.res\1.')]
    return rename_keys(state_dict, rules, drop=[r'^head\.'])


declare_source(
    'timm', 'Darknet',
    names=lambda b: ['darknet53'] if getattr(b, 'depth', None) == 53 else [],
    implies=[Implied(('*', ), "timm's darknet53 uses act_layer='leaky_relu',"
                     " nn.LeakyReLU's default slope 0.01 (timm cspnet.py), "
                     "not the paper's 0.1",
                     backbone=dict(act_cfg=dict(type='LeakyReLU',
                                                negative_slope=0.01)))],
    features='forward_features')
