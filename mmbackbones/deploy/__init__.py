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
