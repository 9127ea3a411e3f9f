"""Reference models for the speed tools, named by a SPEC string.

``SOURCE:NAME[:KWARGS]`` names a model of torchvision, timm, mmpretrain,
pretrainedmodels, pytorchcv or one of ours (see :data:`SPEC_HELP`).
:func:`build_reference` gives its backbone part (the features, no pooling
or head), as tools/analysis/benchmark.py compares backbones;
:func:`build_reference_classifier` the whole ImageNet classifier (for
tools/analysis/train_speed.py's timm / torchvision references).

Example::

    >>> net = build_reference('torchvision:resnet18').eval()
    >>> net(torch.rand(1, 3, 64, 64)).shape
    torch.Size([1, 512, 2, 2])
"""
import ast
import copy
from typing import Any, Dict, Tuple

import torch  # noqa: F401  (the doctest example)
import torch.nn as nn

SPEC_HELP = """\
reference SPEC (SOURCE:NAME[:KWARGS]):
  torchvision:NAME[:KWARGS]   torchvision.models.NAME(**KWARGS), random
                              weights; the features are ``model.features``
                              when the model has them (VGG, DenseNet,
                              MobileNet, EfficientNet...), else its children
                              up to the global pool / classifier (ResNet,
                              ResNeXt, RegNet, ShuffleNetV2...).
  timm:NAME[:KWARGS]          timm.create_model(NAME, num_classes=0,
                              **KWARGS); the features are
                              ``forward_features`` (no pooling, no head).
  mmpretrain:TYPE[:KWARGS]    mmpretrain's MODELS.build(dict(type=TYPE,
                              **KWARGS)), e.g. mmpretrain:ResNet:depth=50.
  mmbackbones:TYPE[:KWARGS]   one of ours, by registry type (to compare two
                              of our variants or options).
  pretrainedmodels:NAME[:KWARGS]  Cadene's pretrainedmodels.NAME(
                              pretrained=None, **KWARGS); the features are
                              ``features`` (e.g. bninception).
  pytorchcv:NAME[:KWARGS]     pytorchcv's get_model(NAME, pretrained=False,
                              **KWARGS); the features are ``features``
                              without its ``final_pool``.
KWARGS are Python keyword arguments, as in a call:
  "mmpretrain:ResNet:depth=50,out_indices=(3,),style='pytorch'"

The timed step is only the backbone: no loss head, no optimizer step.
On a machine shared with other jobs, OMP_WAIT_POLICY=PASSIVE keeps
spinning OpenMP threads from slowing small operations down 10x and more
(it applies to both models alike); compare the median and the
fastest-step ratios: they should agree.
"""

_TORCHVISION_HEAD = ('avgpool', 'fc', 'classifier', 'dropout', 'head',
                     'AuxLogits', 'aux1', 'aux2')


# --------------------------------------------------------------------- #
# Building the two models
# --------------------------------------------------------------------- #
def parse_spec(spec: str) -> Tuple[str, str, Dict[str, Any]]:
    """``'mmpretrain:ResNet:depth=50'`` -> ``('mmpretrain', 'ResNet',
    {'depth': 50})``; the kwargs are parsed as Python literals."""
    parts = spec.split(':', 2)
    if len(parts) < 2 or not all(parts[:2]):
        raise ValueError(f'--reference must be SOURCE:NAME[:KWARGS], got '
                         f'{spec!r}')
    source, name = parts[0], parts[1]
    kwargs: Dict[str, Any] = {}
    if len(parts) == 3 and parts[2].strip():
        try:
            call = ast.parse(f'f({parts[2]})', mode='eval').body
            if call.args:
                raise ValueError('positional arguments are not supported')
            kwargs = {kw.arg: ast.literal_eval(kw.value)
                      for kw in call.keywords}
        except (SyntaxError, ValueError) as err:
            raise ValueError(f'cannot parse the keyword arguments '
                             f'{parts[2]!r} of {spec!r}: {err}') from err
    return source, name, kwargs


class _Features(nn.Module):
    """Calls one method (``forward_features``) of a model as its forward."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model = model
        self.method = method

    def forward(self, x):
        return getattr(self.model, self.method)(x)


def _torchvision_features(name: str, kwargs: dict) -> nn.Module:
    import torchvision
    if not hasattr(torchvision.models, name):
        raise ValueError(f'torchvision.models has no {name!r}')
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    if isinstance(getattr(model, 'features', None), nn.Module):
        return model.features
    children = []
    for child_name, child in model.named_children():
        if child_name in _TORCHVISION_HEAD:
            break
        children.append(child)
    return nn.Sequential(*children)


def _timm_features(name: str, kwargs: dict) -> nn.Module:
    import timm
    model = timm.create_model(name, pretrained=False,
                              **dict(dict(num_classes=0), **kwargs))
    return _Features(model, 'forward_features')


def _pretrainedmodels_features(name: str, kwargs: dict) -> nn.Module:
    import pretrainedmodels
    if name not in pretrainedmodels.model_names:
        raise ValueError(f'pretrainedmodels has no {name!r}')
    model = getattr(pretrainedmodels, name)(
        **dict(dict(pretrained=None), **kwargs))
    model.last_linear = nn.Identity()  # unused; not counted in its params
    return _Features(model, 'features')


def _pytorchcv_features(name: str, kwargs: dict) -> nn.Module:
    from pytorchcv.model_provider import get_model
    features = get_model(name, **dict(dict(pretrained=False),
                                      **kwargs)).features
    return nn.Sequential(*[m for n, m in features.named_children()
                           if n != 'final_pool'])


def _registry_model(registry, type_name: str, kwargs: dict) -> nn.Module:
    return registry.build(dict(type=type_name, **kwargs))


def build_reference(spec: str) -> nn.Module:
    """The reference backbone named by ``spec`` (see ``--help``)."""
    source, name, kwargs = parse_spec(spec)
    if source == 'torchvision':
        return _torchvision_features(name, kwargs)
    if source == 'timm':
        return _timm_features(name, kwargs)
    if source == 'mmpretrain':
        import mmpretrain.models  # noqa: F401  (registers the backbones)
        from mmpretrain.registry import MODELS
        return _registry_model(MODELS, name, kwargs)
    if source == 'mmbackbones':
        import mmbackbones  # noqa: F401
        from mmbackbones.registry import MODELS
        return _registry_model(MODELS, name, kwargs)
    if source == 'pretrainedmodels':
        return _pretrainedmodels_features(name, kwargs)
    if source == 'pytorchcv':
        return _pytorchcv_features(name, kwargs)
    raise ValueError(f'unknown reference source {source!r}: use torchvision, '
                     'timm, mmpretrain, mmbackbones, pretrainedmodels or '
                     'pytorchcv')


def build_ours(config: str, cfg_options: dict = None) -> nn.Module:
    """``model.backbone`` of one of our configs (a file or a model
    name)."""
    import mmbackbones  # noqa: F401
    from mmbackbones.registry import MODELS
    from mmbackbones.utils import load_config

    # A missing or broken config (or unknown model name), or an unknown
    # --cfg-options key: one InputError (exit 2), as in every tool.
    cfg = load_config(config, cfg_options)
    backbone = cfg.get('model', {}).get('backbone')
    if backbone is None:
        raise ValueError(f'{config} has no model.backbone')
    return MODELS.build(copy.deepcopy(backbone))


def build_reference_classifier(spec: str,
                               num_classes: int = 1000) -> nn.Module:
    """The whole classifier (features, pooling, head) of a torchvision or
    timm SPEC, random weights; its forward gives logits.

    Raises:
        ValueError: another source, or an unknown name.
    """
    source, name, kwargs = parse_spec(spec)
    if source == 'torchvision':
        import torchvision
        if not hasattr(torchvision.models, name):
            raise ValueError(f'torchvision.models has no {name!r}')
        kwargs = dict(dict(weights=None, num_classes=num_classes), **kwargs)
        return getattr(torchvision.models, name)(**kwargs)
    if source == 'timm':
        import timm
        kwargs = dict(dict(num_classes=num_classes), **kwargs)
        return timm.create_model(name, pretrained=False, **kwargs)
    raise ValueError(f'a classifier reference must be torchvision:NAME or '
                     f'timm:NAME, got {spec!r}')

