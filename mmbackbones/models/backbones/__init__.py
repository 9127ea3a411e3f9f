"""One module per backbone family; importing registers them.

Every module of this package is imported and its ``__all__`` re-exported,
so adding a family means adding its file (with an ``__all__``), nothing
else.
"""
import pkgutil
from importlib import import_module

__all__ = []
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _module = import_module(f'{__name__}.{_info.name}')
    for _name in getattr(_module, '__all__', ()):
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
