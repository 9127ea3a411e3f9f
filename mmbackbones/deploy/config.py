"""Deploy configs: the training config, with the model built in deploy form.

A deploy checkpoint has another structure than the training one (RepVGG's
``branch_reparam``; fused convolutions with a bias and no BN), so the config
that builds the model for it must say so. The deploy config keeps the
training config as it is except for ``model``, which becomes::

    model = dict(
        type='mmbackbones.deploy.build_deployed_model',
        model_type=<the original model type>,
        fused_conv_bn={conv name: name of the BN folded into it, ...},
        backbone=dict(..., deploy=True),  # where the class takes `deploy`
        ...)  # every other key of the original model, unchanged

:func:`build_deployed_model` builds the original model, switches its
re-parameterisable blocks and folds exactly the listed Conv -> BN pairs, so
the deploy state dict loads with strict keys. The keys of ``model`` stay
where they were (``model.backbone``, ``model.head``, ``data_preprocessor``
merging by the Runner all keep working), and the type is a full import path,
so any OpenMMLab project (mmdet, mmseg...) builds it without registration.
"""
import copy
import inspect
from typing import Any, Mapping, Optional

import torch.nn as nn
from mmengine.config import Config

from .convert import DeployInfo
from .fuse import fuse_conv_bn
from .reparam import reparameterize

#: The ``type`` of a deploy model in a config.
BUILDER = 'mmbackbones.deploy.build_deployed_model'


def build_deployed_model(model_type: Any,
                         fused_conv_bn: Optional[Mapping[str, str]] = None,
                         **model_cfg) -> nn.Module:
    """Build ``dict(type=model_type, **model_cfg)`` in deploy form.

    The structure only: the values come from the deploy checkpoint.
    """
    from mmbackbones.registry import MODELS
    model = MODELS.build(dict(type=model_type, **model_cfg))
    reparameterize(model)
    fuse_conv_bn(model, list((fused_conv_bn or {}).items()))
    return model


def _resolve_type(obj_type: Any) -> Optional[Any]:
    """The class (or function) a config ``type`` names, in the current
    default scope; None when it cannot be resolved."""
    if not isinstance(obj_type, str):
        return obj_type
    from mmbackbones.registry import MODELS
    try:
        with MODELS.switch_scope_and_registry(None) as registry:
            return registry.get(obj_type)
    except Exception:  # an unknown type: leave its dict as it is
        return None


def _takes_deploy(obj: Any) -> bool:
    # A class's __init__: a metaclass __call__ (our backbones') would hide
    # the arguments from inspect.signature(cls).
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        return 'deploy' in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def set_deploy_flags(cfg: Any) -> Any:
    """``deploy=True`` in every (nested) model dict whose type takes a
    ``deploy`` argument (RepVGG, mmpretrain's RepVGG / MobileOne...), so
    the deploy config says which parts are in deploy form and builds them
    so directly."""
    if isinstance(cfg, dict):
        if 'type' in cfg and _takes_deploy(_resolve_type(cfg['type'])):
            cfg['deploy'] = True
        for value in cfg.values():
            set_deploy_flags(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            set_deploy_flags(value)
    return cfg


def is_deploy_model_cfg(model_cfg: dict) -> bool:
    model_type = model_cfg.get('type')
    return model_type is build_deployed_model or model_type == BUILDER


def deploy_config(cfg: Config, info: DeployInfo) -> Config:
    """The deploy config of a training config (see the module docstring).

    The caller must have set the config's default scope (string types are
    resolved in it).
    """
    model = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(
        cfg.model)
    if is_deploy_model_cfg(model):
        raise ValueError('the config is already a deploy config (its model '
                         f'type is {BUILDER}); give the training config')
    model = set_deploy_flags(copy.deepcopy(model))
    deploy_model = dict(
        type=BUILDER,
        model_type=model.pop('type'),
        fused_conv_bn=dict(info.fused),
        **model)
    out = copy.deepcopy(cfg)
    out.model = deploy_model
    return out


def config_text(cfg: Config, header: str = '') -> str:
    """The config as Python source, with ``header`` as leading comments."""
    lines = [f'# {line}'.rstrip() for line in header.splitlines()]
    return '\n'.join(lines + [cfg.pretty_text])
