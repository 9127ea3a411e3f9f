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


def installed_version(distribution: str) -> Optional[str]:
    """The installed version of ``distribution``, without importing it."""
    from importlib import metadata
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def mmdet_mmcv_conflict(mmcv: Optional[str],
                        mmdet: Optional[str]) -> Optional[str]:
    """The one-line fix when mmdet and mmcv versions break mmpretrain.

    mmpretrain imports mmdet when it is installed (its multimodal models);
    mmdet 3.x asserts ``mmcv < 2.2.0`` with an AssertionError that escapes
    mmpretrain's ImportError guard, so ``import mmpretrain.models`` itself
    fails.

    >>> mmdet_mmcv_conflict('2.2.0', '3.3.0')[:38]
    'mmdet 3.3.0 needs mmcv<2.2.0 but mmcv '
    >>> mmdet_mmcv_conflict('2.1.0', '3.3.0') is None
    True
    """
    if mmcv is None or mmdet is None:
        return None
    if _as_tuple(mmdet) < (4, ) and _as_tuple(mmcv) >= (2, 2, 0):
        return (f'mmdet {mmdet} needs mmcv<2.2.0 but mmcv {mmcv} is '
                'installed, and mmpretrain imports mmdet when present; '
                "pip install 'mmcv-lite>=2.0.0,<2.2.0' (or full mmcv in that "
                'range), or uninstall mmdet')
    return None


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
    conflict = mmdet_mmcv_conflict(
        import_module('mmcv').__version__, installed_version('mmdet'))
    if conflict:
        raise ImportError(conflict)
