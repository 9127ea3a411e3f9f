"""Check the OpenMMLab dependencies before anything imports them.

mmpretrain itself asserts on the mmcv/mmengine versions with a long
traceback; we check first and say in one line what to install.
"""
from importlib import import_module
from typing import Optional, Tuple

# (import name, minimum inclusive, maximum exclusive, what to install)
REQUIREMENTS: Tuple[Tuple[str, str, Optional[str], str], ...] = (
    ('mmengine', '0.10.0', '1.0.0', "pip install 'mmengine>=0.10.0,<1.0.0'"),
    ('mmcv', '2.0.0', '2.4.0',
     "pip install 'mmcv-lite>=2.0.0,<2.4.0' (or full mmcv in that range)"),
    ('mmpretrain', '1.2.0', '2.0.0', "pip install 'mmpretrain>=1.2.0,<2.0.0'"),
)


def _as_tuple(version: str) -> Tuple[int, ...]:
    """'2.1.0rc1' -> (2, 1, 0): enough to compare release numbers."""
    parts = []
    for piece in version.split('+')[0].split('.')[:3]:
        digits = ''.join(c for c in piece if c.isdigit()) or '0'
        parts.append(int(digits))
    return tuple(parts)


def check_dependencies() -> None:
    """Raise ImportError with a one-line fix when a dependency is unusable."""
    for name, low, high, fix in REQUIREMENTS:
        try:
            module = import_module(name)
        except ImportError as err:
            raise ImportError(
                f'mmbackbones needs {name} ({err}); {fix}') from None
        found = getattr(module, '__version__', '0')
        if _as_tuple(found) < _as_tuple(low) or (
                high is not None and _as_tuple(found) >= _as_tuple(high)):
            raise ImportError(
                f'mmbackbones needs {name}>={low},<{high} but found '
                f'{name}=={found}; {fix}')
