"""``import mmbackbones`` names the mmdet/mmcv conflict that breaks
``import mmpretrain.models`` in one line."""
import pytest
from conftest import run_tool

from mmbackbones._check import installed_version, mmdet_mmcv_conflict


def test_conflict_rule():
    assert mmdet_mmcv_conflict('2.1.0', '3.3.0') is None
    assert mmdet_mmcv_conflict('2.2.0', None) is None  # no mmdet: fine
    message = mmdet_mmcv_conflict('2.2.0', '3.3.0')
    assert message.startswith('mmdet 3.3.0 needs mmcv<2.2.0 but mmcv 2.2.0')
    assert "pip install 'mmcv-lite>=2.0.0,<2.2.0'" in message


def test_import_names_the_conflict_in_one_line():
    mmdet = installed_version('mmdet')
    if mmdet is None:
        pytest.skip('mmdet is not installed')
    result = run_tool(['-c', "import mmcv; mmcv.__version__ = '2.2.0'\n"
                       'import mmbackbones'])
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == f'ImportError: {mmdet_mmcv_conflict("2.2.0", mmdet)}'
