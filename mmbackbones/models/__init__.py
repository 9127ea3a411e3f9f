"""Backbones (registered in ``mmbackbones.registry.MODELS``) and layers."""
from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .base import BaseBackbone
from .heads import *  # noqa: F401,F403

__all__ = ['BaseBackbone', *_backbones]
