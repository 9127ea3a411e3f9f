"""State-dict converters from torchvision, timm and mmpretrain.

``convert_state_dict(state_dict, source, backbone)`` returns a state dict
that ``backbone.load_state_dict(..., strict=True)`` accepts. Each family
registers its converters in a module of this package (``<family>.py``);
every module here is imported, so a new family only adds its own file.
"""
import pkgutil
from importlib import import_module

from .base import (SOURCES, available_sources, convert_state_dict,
                   register_converter, rename_keys, unwrap_state_dict)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != 'base':
        import_module(f'{__name__}.{_module.name}')

__all__ = [
    'SOURCES', 'available_sources', 'convert_state_dict',
    'register_converter', 'rename_keys', 'unwrap_state_dict'
]
