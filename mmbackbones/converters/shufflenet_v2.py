"""ShuffleNetV2 weights: torchvision ``shufflenet_v2_x*``, mmpretrain."""
from .base import mmpretrain_backbone, register_converter, rename_keys
from .settings import declare_source

register_converter('mmpretrain', 'ShuffleNetV2')(mmpretrain_backbone)

# torchvision's branches are flat Sequentials (conv, bn, relu, ...); ours
# are Sequentials of ConvModules: flat index -> (ConvModule index, part).
_BRANCH1 = {0: '0.conv', 1: '0.bn', 2: '1.conv', 3: '1.bn'}
_BRANCH2 = {0: '0.conv', 1: '0.bn', 3: '1.conv', 4: '1.bn', 5: '2.conv',
            6: '2.bn'}


@register_converter('torchvision', 'ShuffleNetV2')
def from_torchvision(state_dict, backbone):
    rules = [(r'^conv1\.0\.', 'conv1.conv.'), (r'^conv1\.1\.', 'conv1.bn.'),
             (r'^conv5\.0\.', 'layers.3.conv.'),
             (r'^conv5\.1\.', 'layers.3.bn.')]
    for stage in (2, 3, 4):
        for branch, table in (('branch1', _BRANCH1), ('branch2', _BRANCH2)):
            for flat, ours in table.items():
                rules.append((rf'^stage{stage}\.(\d+)\.{branch}\.{flat}\.',
                              rf'layers.{stage - 2}.\1.{branch}.{ours}.'))
    return rename_keys(state_dict, rules, drop=[r'^fc\.'])


# No settings beyond the keys; declared so that conversions are verified.
declare_source(
    'torchvision', 'ShuffleNetV2',
    names=lambda b: [f'shufflenet_v2_x{b.widen_factor:.1f}'.replace('.', '_')],
    features='conv5')
