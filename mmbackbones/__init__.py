"""mmbackbones: classic supervised CNN backbones as an OpenMMLab plugin.

Importing the package registers every backbone in ``mmbackbones.registry``
(scope ``mmbackbones``), a child of mmpretrain's registries.
"""
import warnings

from ._check import check_dependencies
from .version import __version__

check_dependencies()
# mmcv-lite lacks mmcv.ops; mmcv warns about one transformer op on import.
# No backbone here uses mmcv.ops, so that warning only confuses users.
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``')

from . import models  # noqa: E402,F401  (registers the backbones)
from .engine import allow_mmengine_checkpoints  # noqa: E402

# Every torch.load in the process (mmengine's resume, load_from and
# init_cfg=Pretrained included) stays weights_only=True and accepts the
# exact non-tensor types that mmengine checkpoints contain.
allow_mmengine_checkpoints()
# ... and every mmengine checkpoint scheme (local, http(s), torchvision,
# open-mmlab, mmcls, pavi, s3) reads through that safe loader.
from .engine.schemes import register_safe_schemes  # noqa: E402

register_safe_schemes()

# The zoo: names from the config files (imports nothing heavy until used).
from .zoo import get_model, list_models, model_config  # noqa: E402

__all__ = ['__version__', 'get_model', 'list_models', 'model_config']
