"""CSPDarknet-53 / CSPResNet-50 / CSPResNeXt-50 weights: timm
``cspdarknet53`` / ``cspresnet50`` / ``cspresnext50``, and mmpretrain
(same names: the backbone part of a classifier checkpoint as it is; its
generic ``CSPNet`` too)."""
from .base import mmpretrain_backbone, register_converter, rename_keys

register_converter('mmpretrain', 'CSPNet', 'CSPDarkNet', 'CSPResNet',
                   'CSPResNeXt')(mmpretrain_backbone)

# timm's CrossStage names -> mmpretrain's CSPStage names.
_STAGE_RULES = [
    (r'^stages\.(\d+)\.conv_down\.', r'stages.\1.downsample_conv.'),
    (r'^stages\.(\d+)\.conv_exp\.', r'stages.\1.expand_conv.'),
    (r'^stages\.(\d+)\.conv_transition_b\.', r'stages.\1.atfer_blocks_conv.'),
    (r'^stages\.(\d+)\.conv_transition\.', r'stages.\1.final_conv.'),
]


@register_converter('timm', 'CSPDarkNet')
def from_timm_darknet(state_dict, backbone):
    # DarkBlocks are ConvModules in both: blocks.j.conv1.{conv,bn} as is.
    rules = [(r'^stem\.conv1\.', 'stem.')] + _STAGE_RULES
    return rename_keys(state_dict, rules, drop=[r'^head\.'])


@register_converter('timm', 'CSPResNet', 'CSPResNeXt')
def from_timm_resnet(state_dict, backbone):
    # Bottlenecks: timm's convK.{conv,bn} are our (mmpretrain's) convK/bnK.
    # A deep stem (timm's cspresnet50d layout) is stem.conv1..3.
    rules = [(r'^stem\.conv(\d)\.', lambda m: f'stem.{int(m[1]) - 1}.'),
             (r'^(stages\.\d+\.blocks\.\d+\.conv\d)\.conv\.', r'\1.'),
             (r'^(stages\.\d+\.blocks\.\d+)\.conv(\d)\.bn\.', r'\1.bn\2.')]
    return rename_keys(state_dict, rules + _STAGE_RULES, drop=[r'^head\.'])
