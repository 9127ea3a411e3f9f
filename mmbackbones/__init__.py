"""mmbackbones: classic supervised CNN backbones as an OpenMMLab plugin.

Importing the package registers every backbone in ``mmbackbones.registry``
(scope ``mmbackbones``), a child of mmpretrain's registries.
"""
from ._check import check_dependencies
from .version import __version__

check_dependencies()

from . import models  # noqa: E402,F401  (registers the backbones)

__all__ = ['__version__']
