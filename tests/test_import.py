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


#: One registry type per family of the 25 (README), in a subprocess so
#: that nothing this test session imported earlier can register them.
FAMILIES = {
    'VGG': 'VGG', 'ResNet': 'ResNet', 'ResNetV2': 'ResNetV2',
    'ResNeXt': 'ResNeXt', 'SENet': 'SEResNet', 'ResNeSt': 'ResNeSt',
    'Res2Net': 'Res2Net', 'GoogLeNet': 'GoogLeNet',
    'BN-Inception': 'BNInception', 'Inception v3': 'InceptionV3',
    'Inception v4': 'InceptionV4',
    'Inception-ResNet-v2': 'InceptionResNetV2',
    'MobileNet V1': 'MobileNetV1', 'MobileNet V2': 'MobileNetV2',
    'MobileNet V3': 'MobileNetV3', 'ShuffleNet V1': 'ShuffleNetV1',
    'ShuffleNet V2': 'ShuffleNetV2', 'SqueezeNet': 'SqueezeNet',
    'EfficientNet': 'EfficientNet', 'RepVGG': 'RepVGG', 'HRNet': 'HRNet',
    'DenseNet': 'DenseNet', 'Darknet53': 'Darknet', 'CSPNet': 'CSPDarkNet',
    'VoVNet': 'VoVNet',
}


def test_import_registers_every_family():
    assert len(FAMILIES) == 25
    # Registered at ``import mmbackbones``, and every backbone class
    # ``mmbackbones.models`` exports (abstract bases aside) is registered.
    code = ('import mmbackbones\n'
            'from mmbackbones.models.base import BaseBackbone\n'
            'from mmbackbones.registry import MODELS\n'
            'print(" ".join(sorted(k for k, v in MODELS.module_dict.items()'
            ' if isinstance(v, type) and issubclass(v, BaseBackbone))))\n'
            'import inspect, mmbackbones.models as m\n'
            'print(" ".join(sorted(n for n in m.__all__ if inspect.isclass('
            'getattr(m, n)) and issubclass(getattr(m, n), BaseBackbone) and '
            'not inspect.isabstract(getattr(m, n)))))')
    result = run_tool(['-c', code])
    assert result.returncode == 0, result.stderr[-2000:]
    registered_line, exported_line = result.stdout.splitlines()[-2:]
    registered = set(registered_line.split())
    missing = {f: t for f, t in FAMILIES.items() if t not in registered}
    assert not missing, f'families not registered at import: {missing}'
    exported = set(exported_line.split()) - {'BaseBackbone', 'CSPNet'}
    assert exported - registered == set()
    assert len(registered) >= len(FAMILIES) + 4  # variants: ResNetV1c...
