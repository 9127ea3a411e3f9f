"""Safe loaders for every checkpoint scheme mmengine knows.

mmengine 0.10.7 reads ``http(s)://``, ``torchvision://``/``modelzoo://``,
``open-mmlab://``/``openmmlab://``, ``mmcls://``, ``pavi://`` and
``s3://``/``petrel://`` checkpoints with ``torch.load`` (or
``torch.hub.load_state_dict_from_url``) without ``weights_only=True``: a
downloaded file's pickle could run any code, and so could the cached copy
every later run re-reads. :func:`register_safe_schemes` replaces each of
those loaders, through mmengine's public
``CheckpointLoader.register_scheme(..., force=True)``, by one that fetches
the bytes the same way and reads them with
:func:`~mmbackbones.engine.checkpoint.load_checkpoint_file` (weights_only,
the exact mmengine allowlist, the size limit; every failure one
:class:`~mmbackbones.engine.checkpoint.CheckpointError`).

Downloads go to torch hub's cache (``$TORCH_HOME/hub/checkpoints``, as
mmengine's) through ``torch.hub.download_url_to_file``, which writes a
``.partial`` temporary file and renames it, so the cache holds whole files.

Example:
    >>> import mmbackbones  # registers the loaders
    >>> from mmengine.runner.checkpoint import CheckpointLoader
    >>> CheckpointLoader._get_checkpoint_loader('https://x/y.pth').__module__
    'mmbackbones.engine.schemes'
"""
import logging
import os
import os.path as osp
import tempfile
import urllib.error
import zipfile
from typing import Any, Callable, Dict, Optional
from urllib.parse import urlparse

import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.runner import checkpoint as mm_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoint import CheckpointError, load_checkpoint_file


def torchvision_urls() -> Dict[str, str]:
    """``torchvision://`` names and their URLs (mmengine's table)."""
    return mm_checkpoint.get_torchvision_models()


def openmmlab_urls() -> Dict[str, str]:
    """``open-mmlab://`` names (mmengine's table updated by
    ``$MMENGINE_HOME/open_mmlab.json``)."""
    return mm_checkpoint.get_external_models()


def mmcls_urls() -> Dict[str, str]:
    """``mmcls://`` names and their URLs (mmengine's table)."""
    return mm_checkpoint.get_mmcls_models()


def _lookup(table: Dict[str, str], name: str, scheme: str) -> str:
    if name not in table:
        raise CheckpointError(
            f'{scheme}{name}: unknown model name; {len(table)} are known, '
            f'e.g. {sorted(table)[:5]}')
    return table[name]


def download(url: str, model_dir: Optional[str] = None,
             progress: bool = False) -> str:
    """The cached copy of ``url`` in ``model_dir`` (default torch hub's
    ``checkpoints`` folder), downloaded atomically if it is not there."""
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    filename = osp.basename(urlparse(url).path)
    if not filename:
        raise CheckpointError(f'{url}: the URL names no file')
    cached = osp.join(model_dir, filename)
    if not osp.isfile(cached):
        try:
            os.makedirs(model_dir, exist_ok=True)
            # A '.partial' temporary in model_dir, renamed when complete.
            torch.hub.download_url_to_file(url, cached, progress=progress)
        except (urllib.error.URLError, OSError, RuntimeError,
                ValueError) as err:
            if isinstance(err, urllib.error.HTTPError):
                reason = f'HTTP {err.code} {err.reason}'
            else:
                reason = f'{type(err).__name__}: ' + str(
                    getattr(err, 'reason', None) or err)
            raise CheckpointError(
                f'cannot download checkpoint {url}: {reason}') from None
    return cached


def _load_downloaded(url: str, path: str, map_location: Any) -> dict:
    """Read a downloaded file safely, naming both the URL and the cache."""
    name = f'{url} (cached as {path})'
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
        # torch hub unpacks such a one-file zip (pre-1.6 checkpoints
        # zipped by hand) and loads what it holds; we do not unpack.
        if len(members) == 1 and not members[0].is_dir():
            raise CheckpointError(
                f'cannot read checkpoint {name}: it is a zip of one file '
                f'({members[0].filename}); unzip it and load that file')
    return load_checkpoint_file(path, map_location, name=name)


def load_from_http(filename: str, map_location: Any = None,
                   model_dir: Optional[str] = None,
                   progress: bool = False) -> dict:
    """``http://``/``https://``: download once to the cache (local rank 0
    first, as mmengine), then read the cached file safely."""
    rank, world_size = get_dist_info()
    path = None
    if rank == 0:
        path = download(filename, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            path = download(filename, model_dir, progress)
    return _load_downloaded(filename, path, map_location)


def load_from_local(filename: str, map_location: Any = None) -> dict:
    """A local path (mmengine's default scheme)."""
    return load_checkpoint_file(osp.expanduser(filename), map_location)


def load_from_torchvision(filename: str, map_location: Any = None) -> dict:
    """``torchvision://NAME`` (and the deprecated ``modelzoo://NAME``)."""
    scheme = 'modelzoo://' if filename.startswith('modelzoo://') \
        else 'torchvision://'
    name = filename[len(scheme):]
    return load_from_http(
        _lookup(torchvision_urls(), name, scheme), map_location)


def load_from_openmmlab(filename: str, map_location: Any = None) -> dict:
    """``open-mmlab://NAME``/``openmmlab://NAME``: a URL, or a path in
    ``$MMENGINE_HOME``, from mmengine's table."""
    scheme = 'open-mmlab://' if filename.startswith('open-mmlab://') \
        else 'openmmlab://'
    name = filename[len(scheme):]
    deprecated = mm_checkpoint.get_deprecated_model_names()
    if name in deprecated:
        print_log(f'{scheme}{name} is deprecated in favor of '
                  f'{scheme}{deprecated[name]}', logger='current',
                  level=logging.WARNING)
        name = deprecated[name]
    url = _lookup(openmmlab_urls(), name, scheme)
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location)
    return load_checkpoint_file(
        osp.join(mm_checkpoint._get_mmengine_home(), url), map_location)


def load_from_mmcls(filename: str, map_location: Any = None) -> dict:
    """``mmcls://NAME``: an mmcls classifier's backbone weights (the
    ``backbone.`` prefix dropped, as mmengine does)."""
    name = filename[len('mmcls://'):]
    checkpoint = load_from_http(
        _lookup(mmcls_urls(), name, 'mmcls://'), map_location)
    state_dict = checkpoint.get('state_dict', checkpoint)
    return dict(state_dict={
        k[len('backbone.'):]: v
        for k, v in state_dict.items() if k.startswith('backbone.')
    })


def load_from_pavi(filename: str, map_location: Any = None) -> dict:
    """``pavi://PATH``: downloaded by pavi's modelcloud to a temporary
    folder, then read safely."""
    try:
        from pavi import modelcloud
    except ImportError:
        raise CheckpointError(
            f'{filename}: the pavi:// scheme needs the pavi package, which '
            'is not installed') from None
    model = modelcloud.get(filename[len('pavi://'):])
    with tempfile.TemporaryDirectory() as tmp_dir:
        path = osp.join(tmp_dir, model.name)
        model.download(path)
        return load_checkpoint_file(path, map_location,
                                    name=f'{filename} (downloaded by pavi)')


def load_from_ceph(filename: str, map_location: Any = None,
                   backend: str = 'petrel') -> dict:
    """``s3://``/``petrel://`` (optionally ``cluster:s3://``): the bytes
    from mmengine's file backend, read safely."""
    from mmengine.fileio import get_file_backend
    try:
        file_backend = get_file_backend(filename,
                                        backend_args={'backend': backend})
        data = file_backend.get(filename)
    except ImportError as err:
        raise CheckpointError(f'{filename}: {err}') from None
    except Exception as err:  # the storage client's own errors
        raise CheckpointError(f'cannot fetch checkpoint {filename}: '
                              f'{type(err).__name__}: {err}') from None
    return load_checkpoint_file(bytes(data), map_location, name=filename)


#: Each of mmengine 0.10.7's scheme prefixes and our loader for it.
SAFE_SCHEMES: Dict[Any, Callable[..., dict]] = {
    '': load_from_local,
    ('http://', 'https://'): load_from_http,
    ('modelzoo://', 'torchvision://'): load_from_torchvision,
    ('open-mmlab://', 'openmmlab://'): load_from_openmmlab,
    'mmcls://': load_from_mmcls,
    'pavi://': load_from_pavi,
    (r'(\S+\:)?s3://', r'(\S+\:)?petrel://'): load_from_ceph,
}


def register_safe_schemes() -> None:
    """Make every scheme of mmengine's ``CheckpointLoader`` (so
    ``load_from``, ``resume``, ``init_cfg=dict(type='Pretrained')`` and
    ``mmengine.runner.load_checkpoint``) read through our safe loader."""
    for prefixes, loader in SAFE_SCHEMES.items():
        CheckpointLoader.register_scheme(prefixes, loader, force=True)


def unsafe_schemes() -> Dict[str, str]:
    """Registered prefixes whose loader is not ours (a package imported
    later may register its own); empty when all are safe."""
    return {
        prefix: f'{loader.__module__}.{loader.__name__}'
        for prefix, loader in CheckpointLoader._schemes.items()
        if loader.__module__ != __name__
    }


__all__ = [
    'SAFE_SCHEMES', 'download', 'register_safe_schemes', 'unsafe_schemes',
    'load_from_http', 'load_from_local', 'load_from_torchvision',
    'load_from_openmmlab', 'load_from_mmcls', 'load_from_pavi',
    'load_from_ceph'
]
