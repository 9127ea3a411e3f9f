"""Deploy form of any model: re-parameterisation, Conv-BN fusion, export.

* :func:`convert_to_deploy` -- the one function that puts a model (a
  backbone, or a classifier / detector / segmentor holding one) in deploy
  form: every ``switch_to_deploy()`` block switched
  (:func:`reparameterize`), every Conv -> BN pair folded
  (:func:`find_conv_bn_pairs`, :func:`fuse_conv_bn`).
* :func:`deploy_config` / :func:`build_deployed_model` -- the config that
  builds the deploy structure, so the deploy checkpoint loads strictly.
* :func:`export_onnx` / :func:`check_onnx` -- ONNX export with a dynamic
  batch size, checked with ONNX Runtime.
* :func:`deploy_checkpoint` -- all of it for a config and a checkpoint, with
  verification (what ``tools/deploy.py`` runs).

The deploy form is stated once, by the conversion. A deploy config is the
training model plus what :func:`convert_to_deploy` did to it (the folded
pairs); :func:`build_deployed_model` builds the training form and repeats
that conversion. It does *not* also set ``deploy=True`` in the model dicts:
that flag exists only on some classes (RepVGG, mmpretrain's RepVGG and
MobileOne), was found by inspecting constructor signatures, and cannot say
anything about Conv -> BN folding, so the builder had to convert anyway --
two statements of one thing, which could disagree for a class whose flag
and ``switch_to_deploy()`` differ. The conversion works for every model,
including re-parameterisable blocks without such a flag; its cost is
building the training-form weights once before switching. A user who wants
a class's own deploy flag writes it in a config (e.g.
``configs/repvgg/repvgg_a0_deploy.py``, mmpretrain-style); such a model has
nothing left to switch, so :func:`build_deployed_model` leaves it as built.
"""
from .config import BUILDER, build_deployed_model, deploy_config
from .convert import DeployInfo, convert_to_deploy
from .fuse import find_conv_bn_pairs, fuse_conv_bn
from .onnx import check_onnx, export_onnx
from .pipeline import DeployError, DeployResult, deploy_checkpoint
from .reparam import DEPLOY_METHOD, reparameterize
from .utils import count_non_finite, relative_error, run_model

__all__ = [
    'BUILDER', 'DEPLOY_METHOD', 'DeployError', 'DeployInfo', 'DeployResult',
    'build_deployed_model', 'check_onnx', 'convert_to_deploy',
    'count_non_finite',
    'deploy_checkpoint', 'deploy_config', 'export_onnx',
    'find_conv_bn_pairs', 'fuse_conv_bn', 'relative_error', 'reparameterize',
    'run_model'
]
