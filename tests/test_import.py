"""`import mmbackbones` says in one line what to install."""
import pytest
from conftest import run_tool


@pytest.mark.parametrize('setup, expected', [
    ("import mmcv; mmcv.__version__ = '1.7.1'",
     "mmbackbones needs mmcv>=2.0.0,<2.4.0 but found mmcv==1.7.1; "
     "pip install 'mmcv-lite>=2.0.0,<2.4.0' (or full mmcv in that range)"),
    ("import sys; sys.modules['mmcv'] = None",
     "pip install 'mmcv-lite>=2.0.0,<2.4.0'"),
    ("import mmengine; mmengine.__version__ = '0.7.4'",
     "mmbackbones needs mmengine>=0.10.0,<1.0.0 but found "
     "mmengine==0.7.4"),
])
def test_dependency_problems_are_one_line(setup, expected):
    result = run_tool(['-c', f'{setup}\nimport mmbackbones'])
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('ImportError: mmbackbones needs')
    assert expected in last


def test_import_registers_every_family():
    import mmbackbones
    from mmbackbones.registry import MODELS
    assert mmbackbones.__version__
    assert 'ShuffleNetV2' in MODELS.module_dict
