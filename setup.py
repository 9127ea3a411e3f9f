"""Install mmbackbones: ``pip install -e ".[lite,tests]"`` (see README.md)."""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open(osp.join('mmbackbones', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


# mmcv is deliberately not in install_requires: the backbones only need
# ``mmcv.cnn`` (pure Python), which both ``mmcv-lite`` and the full ``mmcv``
# provide under the same import name. Requiring either one would make pip
# install it over the other and break users who already built full mmcv
# (with its CUDA ops) for mmdet/mmseg. Pick one with an extra instead.
MMCV_RANGE = '>=2.0.0,<2.4.0'  # mmpretrain 1.2 asserts this range at import

setup(
    name='mmbackbones',
    version=read_version(),
    description='Classic supervised CNN backbones for the OpenMMLab ecosystem',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.8',
    # configs/ is a link to mmbackbones/configs (so tools/train.py configs/x.py
    # works in a checkout); installing it as a top-level `configs` package
    # would shadow users' own and make mmengine resolve our read_base()
    # imports under site-packages/configs.
    packages=find_packages(exclude=('tests', 'tests.*', 'configs',
                                    'configs.*')),
    include_package_data=True,
    install_requires=[
        'torch>=2.0',
        # mmpretrain imports torchvision but does not declare it.
        'torchvision',
        'mmengine>=0.10.0,<1.0.0',
        'mmpretrain>=1.2.0,<2.0.0',
        'numpy',
        # mmengine resolves installed packages' configs (``read_base()``
        # inheritance) through pkg_resources, gone from setuptools >= 81.
        'setuptools<81',
    ],
    extras_require={
        'lite': [f'mmcv-lite{MMCV_RANGE}'],
        'full': [f'mmcv{MMCV_RANGE}'],
        'demo': ['scikit-learn'],
        'tests': ['pytest', 'pytest-xdist', 'scikit-learn', 'timm', 'onnx', 'onnxruntime',
                  # BN-Inception's references (pretrainedmodels imports six
                  # without declaring it)
                  'pretrainedmodels', 'pytorchcv', 'six',
                  # downstream tests with the projects' real registries and
                  # configs; mmdet 3.3 / mmseg 1.2 assert mmcv<2.2.0 (and
                  # mmpretrain imports mmdet when present); mmseg imports
                  # ftfy and regex without declaring them. mmpose 1.3.2 is
                  # left out: see docs/downstream.md.
                  'mmdet==3.3.0', 'mmsegmentation==1.2.2', 'ftfy', 'regex',
                  'mmcv-lite>=2.0.0,<2.2.0'],
    },
)
