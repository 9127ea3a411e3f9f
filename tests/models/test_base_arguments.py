"""The base-argument rule: a family lists its own arguments and passes the
base's (frozen_stages, norm_eval, with_cp, in_channels, init_cfg) through
``**kwargs`` to the base, whose keyword-only signature checks them."""
import inspect

import pytest
import torch
import torch.nn as nn

from mmbackbones.models import (VGG, BNInception, DenseNet, EfficientNet,
                                GoogLeNet, InceptionResNetV2, InceptionV3,
                                InceptionV4, MobileNetV1, MobileNetV2,
                                MobileNetV3, ShuffleNetV1, ShuffleNetV2,
                                SqueezeNet, VoVNet)
from mmbackbones.models.backbones.inception_v3 import INCEPTION_V3_INIT_CFG
from mmbackbones.models.backbones.mobilenet_v3 import MOBILENET_V3_INIT_CFG
from mmbackbones.models.base import (DEFAULT_INIT_CFG, BaseBackbone,
                                     check_rate)

#: Family -> the arguments it needs to build (VGG has no default depth).
FAMILIES = {
    MobileNetV1: {}, MobileNetV2: {}, MobileNetV3: {}, ShuffleNetV1: {},
    ShuffleNetV2: {}, VoVNet: {}, GoogLeNet: {}, BNInception: {},
    DenseNet: {}, EfficientNet: {}, SqueezeNet: {}, VGG: dict(depth=11),
    InceptionV3: {}, InceptionV4: {}, InceptionResNetV2: {},
}
PASSED_THROUGH = ('frozen_stages', 'norm_eval', 'with_cp', 'in_channels',
                  'init_cfg')
ids = [cls.__name__ for cls in FAMILIES]


@pytest.mark.parametrize('cls', FAMILIES, ids=ids)
def test_the_signature_lists_the_familys_own_arguments(cls):
    params = inspect.signature(cls).parameters
    assert not set(PASSED_THROUGH) & set(params)
    assert 'out_indices' in params  # with the family's default
    assert list(params.values())[-1].kind is inspect.Parameter.VAR_KEYWORD
    assert set(PASSED_THROUGH) <= set(inspect.signature(BaseBackbone).
                                      parameters)


@pytest.mark.parametrize('cls', FAMILIES, ids=ids)
def test_a_misspelt_argument_is_a_type_error_naming_it(cls):
    with pytest.raises(TypeError, match="unexpected keyword argument "
                       "'frozen_stage'"):
        cls(frozen_stage=1, **FAMILIES[cls])


@pytest.mark.parametrize('cls', FAMILIES, ids=ids)
def test_base_arguments_reach_the_base(cls):
    init_cfg = dict(type='Kaiming', layer='Conv2d')
    with torch.device('meta'):
        model = cls(frozen_stages=0, norm_eval=True, with_cp=True,
                    in_channels=1, init_cfg=init_cfg, **FAMILIES[cls])
    assert (model.frozen_stages, model.norm_eval, model.with_cp,
            model.in_channels, model.init_cfg) == (0, True, True, 1,
                                                   init_cfg)
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 1


@pytest.mark.parametrize('cls, expected', [
    (MobileNetV3, MOBILENET_V3_INIT_CFG),
    (InceptionV3, INCEPTION_V3_INIT_CFG),
    (VGG, [*DEFAULT_INIT_CFG, dict(type='Normal', std=0.01,
                                   layer='Linear')]),
    (MobileNetV2, DEFAULT_INIT_CFG),
])
def test_init_cfg_none_is_the_familys_default_init_cfg(cls, expected):
    with torch.device('meta'):
        model = cls(**FAMILIES[cls])
        explicit = cls(init_cfg=dict(type='Pretrained', checkpoint='x.pth'),
                       **FAMILIES[cls])
    assert model.init_cfg == expected
    # A copy per model: mmengine's initialisation may edit the dicts.
    assert model.init_cfg is not cls.default_init_cfg
    assert model.init_cfg[0] is not cls.default_init_cfg[0]
    assert explicit.init_cfg == dict(type='Pretrained', checkpoint='x.pth')


@pytest.mark.parametrize('value', [-0.1, 1.0, True, '0.5', None])
def test_check_rate_names_the_argument_and_the_range(value):
    with pytest.raises(ValueError, match=r'dropout must be in \[0, 1\), '
                       f'but got {value!r}'):
        check_rate('dropout', value)


def test_check_rate_returns_a_valid_rate():
    assert check_rate('dropout', 0) == 0 and check_rate('p', 0.5) == 0.5
