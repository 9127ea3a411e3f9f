"""RepVGG weights: timm ``repvgg_*`` and mmpretrain ``RepVGG``.

Both the training form and the deploy form convert (timm's
``reparam_conv`` is our ``branch_reparam``), so a checkpoint re-
parameterised elsewhere loads into ``RepVGG(arch, deploy=True)``.
"""
from .base import mmpretrain_backbone, register_converter, rename_keys

# Our module names are mmpretrain's.
register_converter('mmpretrain', 'RepVGG')(mmpretrain_backbone)

# timm ByobNet: ``stem`` and ``stages.<i>.<j>`` hold RepVggBlocks.
_TIMM_STAGES = [(r'^stages\.(\d+)\.',
                 lambda m: f'stage_{int(m.group(1)) + 1}.')]
_TIMM_BLOCK_PARTS = [
    (r'\.conv_kxk\.conv\.', '.branch_3x3.conv.'),
    (r'\.conv_kxk\.bn\.', '.branch_3x3.norm.'),
    (r'\.conv_1x1\.conv\.', '.branch_1x1.conv.'),
    (r'\.conv_1x1\.bn\.', '.branch_1x1.norm.'),
    (r'\.identity\.', '.branch_norm.'),
    (r'\.attn\.fc1\.', '.se_layer.conv1.conv.'),
    (r'\.attn\.fc2\.', '.se_layer.conv2.conv.'),
    (r'\.reparam_conv\.', '.branch_reparam.'),
]


@register_converter('timm', 'RepVGG')
def from_timm(state_dict, backbone):
    # Two passes: rename_keys applies one rule per key, and a key needs
    # both its stage prefix and its branch renamed.
    renamed = rename_keys(state_dict, _TIMM_STAGES,
                          drop=[r'^head\.', r'^final_conv\.'])
    return rename_keys(renamed, _TIMM_BLOCK_PARTS)
