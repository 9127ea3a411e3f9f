"""Every mmengine checkpoint scheme reads through our safe loader.

Checkpoints are served by a real HTTP server on 127.0.0.1 started here;
torch hub's and mmengine's homes are in tmp_path, and an HTTP(S) proxy
pointing at a closed loopback port makes any request to a non-loopback
address fail instead of leaving the machine. A malicious checkpoint's
``__reduce__`` would create a marker file; the tests show it never does,
and that a benign checkpoint served the same way loads.
"""
import http.server
import io
import json
import os
import pathlib
import re
import shutil
import socket
import sys
import textwrap
import threading
import types

import pytest
import torch
from conftest import DEMO_CONFIG, REPO_ROOT, demo_options, run_tool
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint

from mmbackbones.engine import CheckpointError


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker), ))


def _saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


class _Server:
    """A loopback HTTP server serving ``routes`` (path -> bytes)."""

    def __init__(self):
        self.routes, self.requests = {}, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     Handler)
        self.httpd.timeout = 5
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs=dict(poll_interval=0.05),
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return f'http://127.0.0.1:{self.httpd.server_port}{path}'

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    srv = _Server()
    yield srv
    srv.close()
    assert not srv.thread.is_alive()


@pytest.fixture
def homes(tmp_path, monkeypatch):
    """Torch hub and mmengine homes in tmp_path; no way off the machine."""
    dead_proxy = f'http://127.0.0.1:{_closed_port()}'
    env = dict(TORCH_HOME=str(tmp_path / 'torch'),
               MMENGINE_HOME=str(tmp_path / 'mmengine'),
               http_proxy=dead_proxy, https_proxy=dead_proxy,
               HTTP_PROXY=dead_proxy, HTTPS_PROXY=dead_proxy,
               no_proxy='127.0.0.1', NO_PROXY='127.0.0.1')
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    os.makedirs(env['MMENGINE_HOME'])
    return tmp_path


@pytest.fixture
def files(tmp_path):
    """(malicious bytes, benign bytes, marker path)."""
    marker = tmp_path / 'payload_ran'
    evil = _saved({'state_dict': {'w': torch.ones(2)},
                   'x': _RunsCode(str(marker))})
    good = _saved({'state_dict': {'w': torch.arange(2.)}})
    return evil, good, marker


def _hub_cache(homes) -> pathlib.Path:
    return homes / 'torch' / 'hub' / 'checkpoints'


def test_http_download_and_its_cache_are_read_safely(server, homes, files):
    evil, good, marker = files
    server.routes.update({'/evil.pth': evil, '/good.pth': good})
    url = server.url('/evil.pth')
    for attempt in range(2):  # the download, then the cached copy
        with pytest.raises(CheckpointError, match='holds pathlib.Path') as e:
            _load_checkpoint(url)
        assert url in str(e.value) and not marker.exists()
    assert server.requests == ['/evil.pth']  # the second read was the cache
    assert (_hub_cache(homes) / 'evil.pth').read_bytes() == evil
    assert not [p for p in os.listdir(_hub_cache(homes)) if 'partial' in p]
    loaded = _load_checkpoint(server.url('/good.pth'))
    assert torch.equal(loaded['state_dict']['w'], torch.arange(2.))
    # mmengine's public load_checkpoint, as downstream code calls it.
    model = torch.nn.Module()
    model.register_buffer('w', torch.zeros(2))
    load_checkpoint(model, server.url('/good.pth'))
    assert torch.equal(model.w, torch.arange(2.))
    with pytest.raises(CheckpointError):
        load_checkpoint(model, url)
    assert not marker.exists()


def test_http_errors_are_one_message(server, homes):
    with pytest.raises(CheckpointError, match='cannot download .*404'):
        _load_checkpoint(server.url('/missing.pth'))
    assert not os.listdir(_hub_cache(homes))  # nothing half-written


def test_torchvision_names_read_safely(server, homes, files, monkeypatch):
    evil, good, marker = files
    # The real name's cached copy (as a poisoned cache would hold it)...
    from mmengine.runner.checkpoint import get_torchvision_models
    cached = _hub_cache(homes) / os.path.basename(
        get_torchvision_models()['resnet18'])
    cached.parent.mkdir(parents=True)
    cached.write_bytes(evil)
    for scheme in ('torchvision://', 'modelzoo://'):
        with pytest.raises(CheckpointError, match='holds pathlib.Path'):
            _load_checkpoint(f'{scheme}resnet18')
    # ... and names our URL table maps to the loopback server.
    from mmbackbones.engine import schemes
    server.routes.update({'/tv_evil.pth': evil, '/tv_good.pth': good})
    monkeypatch.setattr(schemes, 'torchvision_urls', lambda: {
        'evil': server.url('/tv_evil.pth'),
        'good': server.url('/tv_good.pth')})
    with pytest.raises(CheckpointError, match='holds pathlib.Path'):
        _load_checkpoint('torchvision://evil')
    assert 'state_dict' in _load_checkpoint('torchvision://good')
    with pytest.raises(CheckpointError, match='unknown model name'):
        _load_checkpoint('torchvision://nonesuch')
    assert not marker.exists()


def test_open_mmlab_urls_and_local_names_read_safely(server, homes, files):
    evil, good, marker = files
    server.routes.update({'/om_evil.pth': evil, '/om_good.pth': good})
    (homes / 'mmengine' / 'local_evil.pth').write_bytes(evil)
    (homes / 'mmengine' / 'open_mmlab.json').write_text(json.dumps({
        'evil': server.url('/om_evil.pth'),
        'good': server.url('/om_good.pth'),
        'local_evil': 'local_evil.pth'}))
    for name in ('open-mmlab://evil', 'openmmlab://evil',
                 'open-mmlab://local_evil'):
        with pytest.raises(CheckpointError, match='holds pathlib.Path'):
            _load_checkpoint(name)
    assert 'state_dict' in _load_checkpoint('openmmlab://good')
    assert not marker.exists()


def test_mmcls_names_read_safely(homes, files, tmp_path):
    evil, _, marker = files
    from mmengine.runner.checkpoint import get_mmcls_models
    cached = _hub_cache(homes) / os.path.basename(
        get_mmcls_models()['vgg11'])
    cached.parent.mkdir(parents=True)
    cached.write_bytes(evil)
    with pytest.raises(CheckpointError, match='holds pathlib.Path'):
        _load_checkpoint('mmcls://vgg11')
    assert not marker.exists()
    cached.write_bytes(_saved({'state_dict': {
        'backbone.conv.weight': torch.ones(1), 'head.fc.weight': torch.ones(1)
    }}))
    assert list(_load_checkpoint('mmcls://vgg11')['state_dict']) == [
        'conv.weight']


def test_pavi_downloads_read_safely(server, homes, files, monkeypatch):
    # pavi (SenseTime's model cloud) is not on PyPI: a stand-in modelcloud
    # whose download fetches from the loopback server.
    import urllib.request
    evil, good, marker = files
    server.routes.update({'/pv_evil.pth': evil, '/pv_good.pth': good})

    class Model:
        def __init__(self, path):
            self.name, self.path = os.path.basename(path), path

        def download(self, dst):
            with urllib.request.urlopen(server.url('/' + self.path)) as r:
                pathlib.Path(dst).write_bytes(r.read())

    pavi = types.ModuleType('pavi')
    pavi.modelcloud = types.SimpleNamespace(get=Model)
    monkeypatch.setitem(sys.modules, 'pavi', pavi)
    with pytest.raises(CheckpointError, match='holds pathlib.Path'):
        _load_checkpoint('pavi://pv_evil.pth')
    assert 'state_dict' in _load_checkpoint('pavi://pv_good.pth')
    assert not marker.exists()


def test_s3_objects_read_safely(server, homes, files, monkeypatch):
    # petrel_client is not on PyPI: register (for this test) a storage
    # backend that gets objects from the loopback server.
    import urllib.request

    from mmengine.fileio.backends import BaseStorageBackend, registry_utils
    evil, good, marker = files
    server.routes.update({'/bucket/evil.pth': evil,
                          '/bucket/good.pth': good})

    class LoopbackBackend(BaseStorageBackend):
        def __init__(self, **kwargs):
            pass

        def get(self, filepath):
            path = filepath.split('s3://', 1)[1]
            with urllib.request.urlopen(server.url('/' + path)) as r:
                return r.read()

        def get_text(self, filepath, encoding='utf-8'):
            return self.get(filepath).decode(encoding)

    monkeypatch.setitem(registry_utils.backends, 'petrel', LoopbackBackend)
    for name in ('s3://bucket/evil.pth', 'cluster1:s3://bucket/evil.pth'):
        with pytest.raises(CheckpointError, match='holds pathlib.Path'):
            _load_checkpoint(name)
    assert 'state_dict' in _load_checkpoint('s3://bucket/good.pth')
    assert not marker.exists()


def test_every_registered_scheme_is_ours():
    from mmbackbones.engine.schemes import unsafe_schemes
    assert unsafe_schemes() == {}


def test_force_no_weights_only_env_is_refused_loudly(server, homes, files,
                                                    monkeypatch):
    from mmbackbones.engine import checkpoint
    evil, _, marker = files
    server.routes['/evil.pth'] = evil
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    monkeypatch.setattr(checkpoint, '_warned_force_unsafe', False)
    with pytest.warns(UserWarning, match='mmbackbones ignores it'):
        with pytest.raises(CheckpointError,
                           match='TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set'):
            _load_checkpoint(server.url('/evil.pth'))
    assert not marker.exists()


def test_train_init_cfg_url_payload_does_not_run(server, homes, files,
                                                 digits_root, tmp_path):
    """tools/train.py, init_cfg=Pretrained with an http:// checkpoint, even
    with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1: one message, exit 2."""
    evil, _, marker = files
    server.routes['/init.pth'] = evil
    # The demo config (pure Python, relative bases) copied with its bases.
    shutil.copytree(os.path.join(REPO_ROOT, 'configs'), tmp_path / 'configs')
    config = tmp_path / DEMO_CONFIG
    config.write_text(config.read_text() + textwrap.dedent(f'''
        model.update(init_cfg=dict(type='Pretrained',
                                   checkpoint={server.url('/init.pth')!r}))
    '''))
    env = {k: os.environ[k] for k in (
        'TORCH_HOME', 'MMENGINE_HOME', 'http_proxy', 'https_proxy',
        'no_proxy')}
    env['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    result = run_tool(['tools/train.py', str(config), '--work-dir',
                       str(tmp_path / 'work'), '--no-validate',
                       *demo_options(digits_root, 1,
                                     'train_dataloader.num_workers=0')],
                      env=env, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines()
              if re.match(r'(\S+: )?error: ', line)]
    assert len(errors) == 1 and 'holds pathlib.Path' in errors[0]
    assert server.url('/init.pth') in errors[0]
    assert 'Traceback' not in result.stderr
    assert 'mmbackbones ignores it' in result.stderr
    assert server.requests == ['/init.pth'] and not marker.exists()
