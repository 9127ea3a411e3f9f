"""SE-ResNet and SE-ResNeXt: parameters and features against timm and
mmpretrain. The shared contract runs for both in test_resnet.py."""
import pytest
import torch
from backbone_checks import (build_meta, check_equivalent,
                             check_mmpretrain_equivalence, count_params,
                             randomize_bn, small_input)
from timm import create_model

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import SEResNet, SEResNeXt

#: timm name -> (our class, arguments): Hu et al. Table 2.
VARIANTS = {
    'seresnet50': (SEResNet, dict(depth=50)),
    'seresnet101': (SEResNet, dict(depth=101)),
    'seresnet152': (SEResNet, dict(depth=152)),
    'seresnext50_32x4d': (SEResNeXt, dict(depth=50)),
    'seresnext101_32x4d': (SEResNeXt, dict(depth=101)),
}


@pytest.mark.parametrize('name', list(VARIANTS))
def test_params_match_timm(name):
    cls, kwargs = VARIANTS[name]
    ours = build_meta(cls, **kwargs)
    ref = build_meta(create_model, name, num_classes=0)
    assert count_params(ours) == count_params(ref)


@pytest.mark.parametrize('name', ['seresnet50', 'seresnext50_32x4d'])
def test_timm_equivalence(name):
    ref = randomize_bn(create_model(name, num_classes=0)).eval()
    cls, kwargs = VARIANTS[name]
    ours = cls(**kwargs)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    check_equivalent(ours, ref.forward_features, small_input())


@pytest.mark.parametrize('type_name, kwargs', [
    ('SEResNet', dict(depth=50)),
    # With the ResNet-D stem and shortcuts. (mmpretrain's SEResNeXt ignores
    # se_ratio: it never reaches its blocks.)
    ('SEResNeXt', dict(depth=50, deep_stem=True, avg_down=True)),
])
def test_mmpretrain_equivalence(type_name, kwargs):
    check_mmpretrain_equivalence(type_name, **kwargs)


def test_se_gate_scales_the_residual():
    block = SEResNet(depth=50).layer1[1]
    # Squeeze 256 -> 16 -> 256 (ratio 16), keys as mmpretrain's.
    assert block.se_layer.conv1.conv.weight.shape == (16, 256, 1, 1)
    assert block.se_layer.conv2.conv.weight.shape == (256, 16, 1, 1)
    # A closed gate (sigmoid -> 0) leaves only the shortcut.
    with torch.no_grad():
        block.se_layer.conv2.conv.bias.fill_(-1e4)
    block.eval()
    x = torch.rand(1, 256, 8, 8)
    assert torch.allclose(block(x), x)


def test_se_ratio_reaches_every_block():
    model = SEResNeXt(depth=50, se_ratio=8)
    assert model.layer4[2].se_layer.conv1.conv.out_channels == 2048 // 8


def test_bad_arguments():
    with pytest.raises(ValueError, match='se_ratio must be a positive int'):
        SEResNet(depth=50, se_ratio=0)
    with pytest.raises(ValueError, match=r'depth must be one of \[50, 101'):
        SEResNeXt(depth=34)
