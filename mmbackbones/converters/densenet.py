"""DenseNet weights: torchvision ``densenet121/161/169/201`` (and its
``DenseNet`` class, e.g. DenseNet-264), timm ``densenet121/161/169/201``
(the same ``features.*`` keys), mmpretrain."""
import re

from .base import mmpretrain_backbone, register_converter, rename_keys

register_converter('mmpretrain', 'DenseNet')(mmpretrain_backbone)

# torchvision's first checkpoints (and so some timm/old ones) spelled the
# layer keys ``norm.1``/``relu.1``/``conv.1``; torchvision renames them on
# load with this same pattern.
_OLD_LAYER_KEY = re.compile(
    r'^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.'
    r'(?:weight|bias|running_mean|running_var|num_batches_tracked))$')


def _new_style(key: str) -> str:
    match = _OLD_LAYER_KEY.match(key)
    return match.group(1) + match.group(2) if match else key


@register_converter('torchvision', 'DenseNet')
@register_converter('timm', 'DenseNet')
def from_torchvision(state_dict, backbone):
    """``features.conv0/norm0`` -> ``stem.0/1``; ``denseblockB.denselayerL``
    -> ``stages.(B-1).block.(L-1)``; ``transitionT`` -> ``transitions.(T-1)``;
    ``norm5`` -> the last transition's BN."""
    state_dict = {_new_style(k): v for k, v in state_dict.items()}
    last = len(backbone.stages) - 1

    def block(m):
        return (f'stages.{int(m.group(1)) - 1}.block.'
                f'{int(m.group(2)) - 1}.')

    def transition(m):
        return f'transitions.{int(m.group(1)) - 1}.'

    rules = [
        (r'^features\.conv0\.', 'stem.0.'),
        (r'^features\.norm0\.', 'stem.1.'),
        (r'^features\.denseblock(\d+)\.denselayer(\d+)\.', block),
        (r'^features\.transition(\d+)\.', transition),
        (r'^features\.norm5\.', f'transitions.{last}.0.'),
    ]
    return rename_keys(state_dict, rules, drop=[r'^classifier\.'])
