"""Deploy configs: the training config, with the model built in deploy form.

A deploy checkpoint has another structure than the training one (RepVGG's
``branch_reparam``; fused convolutions with a bias and no BN), so the config
that builds the model for it must say so. It says it once: the deploy
config keeps the training config as it is except for ``model``, which
becomes::

    model = dict(
        type='mmbackbones.deploy.build_deployed_model',
        model_type=<the original model type>,
        fused_conv_bn={conv name: name of the BN folded into it, ...},
        ...)  # every other key of the original model, unchanged

:func:`build_deployed_model` builds the original (training-form) model and
applies the same conversion as :func:`~mmbackbones.deploy.convert_to_deploy`
-- every ``switch_to_deploy()`` block switched, exactly the listed Conv -> BN
pairs folded -- so the deploy state dict loads with strict keys. No
``deploy=True`` flag is added to the model dicts (see the package docstring
for why). The keys of ``model`` stay where they were (``model.backbone``,
``model.head``, ``data_preprocessor`` merging by the Runner all keep
working), and the type is a full import path, so any OpenMMLab project
(mmdet, mmseg...) builds it without registration.
"""
import copy
from typing import Any, Mapping, Optional

import torch.nn as nn
from mmengine.config import Config

from .convert import DeployInfo
from .fuse import fuse_conv_bn
from mmbackbones.models.layers.packed_conv import pack_convolutions
from .reparam import reparameterize

#: The ``type`` of a deploy model in a config.
BUILDER = 'mmbackbones.deploy.build_deployed_model'


def build_deployed_model(model_type: Any,
                         fused_conv_bn: Optional[Mapping[str, str]] = None,
                         **model_cfg) -> nn.Module:
    """Build ``dict(type=model_type, **model_cfg)`` in deploy form.

    The structure only: the values come from the deploy checkpoint. The
    model is built as configured (its training form) and converted, the
    same steps as :func:`~mmbackbones.deploy.convert_to_deploy` with the
    pairs it found, so the two cannot drift apart.

    Example:
        >>> model = build_deployed_model('RepVGG', arch='A0')
        >>> model.deploy, hasattr(model.stem, 'branch_reparam')
        (True, True)
    """
    from mmbackbones.registry import MODELS
    model = MODELS.build(dict(type=model_type, **model_cfg))
    reparameterize(model)
    fuse_conv_bn(model, list((fused_conv_bn or {}).items()))
    pack_convolutions(model)
    return model


def is_deploy_model_cfg(model_cfg: dict) -> bool:
    model_type = model_cfg.get('type')
    return model_type is build_deployed_model or model_type == BUILDER


def deploy_config(cfg: Config, info: DeployInfo) -> Config:
    """The deploy config of a training config (see the module docstring)."""
    model = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(
        cfg.model)
    if is_deploy_model_cfg(model):
        raise ValueError('the config is already a deploy config (its model '
                         f'type is {BUILDER}); give the training config')
    model = copy.deepcopy(model)
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
