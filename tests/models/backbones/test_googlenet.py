import pytest
import torch
import torch.nn as nn
import torchvision
from backbone_checks import (BackboneContract, check_equivalent_outputs,
                             count_params, randomize_bn)

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import GOOGLENET_ARCHS, GoogLeNet, InceptionSpec
from mmbackbones.registry import MODELS

TINY = dict(stem=(8, 16),
            inception3=[(4, 4, 8, 2, 4, 4), (8, 8, 8, 2, 4, 4)],
            inception4=[(8, 4, 8, 2, 4, 4), (8, 8, 8, 4, 4, 4)],
            inception5=[(8, 8, 16, 4, 4, 4)])


def torchvision_ref(aux_logits=False):
    return torchvision.models.googlenet(aux_logits=aux_logits,
                                        init_weights=True)


def torchvision_stages(model):
    """torchvision's GoogLeNet cut where our four stages end."""
    m = model

    def run(x):
        x = m.maxpool1(m.conv1(x))
        s0 = m.conv3(m.conv2(x))
        s1 = m.inception3b(m.inception3a(m.maxpool2(s0)))
        x = m.maxpool3(s1)
        for name in 'abcde':
            x = getattr(m, f'inception4{name}')(x)
        s2 = x
        s3 = m.inception5b(m.inception5a(m.maxpool4(s2)))
        return [s0, s1, s2, s3]

    return run


def test_params_match_torchvision():
    ours = GoogLeNet()
    ref = torchvision_ref()
    assert count_params(ours) == count_params(ref, ['fc.']) == 5599904
    assert ours.out_channels == (ref.fc.in_features, )


def test_torchvision_equivalence_every_stage():
    torch.manual_seed(0)
    ref = randomize_bn(torchvision_ref(aux_logits=True)).eval()
    ours = GoogLeNet(out_indices=(0, 1, 2, 3))
    # aux1/aux2 and fc are dropped; every other key loads strictly.
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours),
        strict=True)
    check_equivalent_outputs(ours, torchvision_stages(ref),
                             torch.rand(2, 3, 64, 64))


def test_converter_keeps_torchvision_keys():
    ref = torchvision_ref(aux_logits=True)
    converted = convert_state_dict(
        {'state_dict': ref.state_dict()}, 'torchvision', GoogLeNet())
    assert 'inception3a.branch3.1.conv.weight' in converted
    assert not any(k.startswith(('fc.', 'aux')) for k in converted)


def test_converter_rejects_paper_kernel():
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(torchvision_ref().state_dict(), 'torchvision',
                           GoogLeNet(branch3_kernel_size=5))


def test_arch_table():
    """Paper Table 1: Inception output channels and the stem."""
    arch = GOOGLENET_ARCHS['googlenet']
    assert arch['stem'] == (64, 192)
    outs = [[r.out_channels for r in arch[g]]
            for g in ('inception3', 'inception4', 'inception5')]
    assert outs == [[256, 480], [512, 512, 512, 528, 832], [832, 1024]]
    assert arch['inception4'][3] == InceptionSpec(112, 144, 288, 32, 64, 64)


def test_feature_info():
    model = GoogLeNet(out_indices=(0, 1, 2, 3))
    assert model.feature_info == [
        dict(index=0, channels=192, stride=4),
        dict(index=1, channels=480, stride=8),
        dict(index=2, channels=832, stride=16),
        dict(index=3, channels=1024, stride=32),
    ]
    assert GoogLeNet().out_indices == (3, )


def test_paper_form_5x5_and_no_norm():
    model = GoogLeNet(arch=TINY, branch3_kernel_size=5, norm_cfg=None)
    conv = model.inception3a.branch3[1].conv
    assert conv.kernel_size == (5, 5) and conv.bias is not None
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    out = model.eval()(torch.rand(1, 3, 32, 32))[0]
    assert out.shape == (1, 8 + 16 + 4 + 4, 1, 1)


def test_custom_arch_rows_as_dicts():
    rows = dict(TINY, inception5=[dict(ch1x1=2, ch3x3red=2, ch3x3=2,
                                       ch5x5red=2, ch5x5=2, pool_proj=2)])
    model = GoogLeNet(arch=rows)
    assert model.stage_channels == (16, 24, 24, 8)
    assert hasattr(model, 'inception4b') and not hasattr(model, 'inception4c')


def test_input_too_small():
    model = GoogLeNet(arch=TINY).eval()
    model(torch.rand(1, 3, 15, 15))  # the smallest that works
    with pytest.raises(ValueError, match='at least 15x15'):
        model(torch.rand(1, 3, 14, 14))


def test_a_stage_is_the_list_of_its_registered_modules():
    model = GoogLeNet(arch=TINY)
    names = {name for name, _ in model.named_modules()}
    assert {'conv1', 'maxpool4', 'inception5a.branch4.1'} <= names
    stage = model.stage_modules()[2]
    assert type(stage) is list
    assert stage[0] is model.maxpool3 and stage[-1] is model.inception4b


@pytest.mark.parametrize('kwargs, match', [
    (dict(arch='inception_v1'), r"arch must be one of \['googlenet'\]"),
    (dict(arch=1), 'arch must be one of'),
    (dict(arch=dict(stem=(8, 16))), 'missing the keys'),
    (dict(arch=dict(TINY, stem=(8, ))), 'arch stem must be 2'),
    (dict(arch=dict(TINY, inception4=[])), 'inception4 must be a non-empty'),
    (dict(arch=dict(TINY, inception5=[(1, 2, 3)])),
     r'inception5\[0\] must be 6 ints'),
    (dict(arch=dict(TINY, inception3=[(1, 2, 3, 4, 5, 0)])),
     r'inception3\[0\] must be a positive int'),
    (dict(arch=dict(TINY, inception3=[dict(ch1x1=1)])),
     'fields of InceptionSpec'),
    (dict(branch3_kernel_size=7), 'branch3_kernel_size must be 3'),
    (dict(arch=dict(TINY, inception6=TINY['inception5'])),
     r"unknown keys \['inception6'\]"),
])
def test_bad_arguments(kwargs, match):
    kwargs.setdefault('arch', TINY)
    with pytest.raises((ValueError, TypeError), match=match):
        GoogLeNet(**kwargs)


class TestGoogLeNetContract(BackboneContract):
    num_stages = 4
    registry_cfg = dict(type='GoogLeNet', arch=TINY)

    @staticmethod
    def build(**kwargs):
        return GoogLeNet(arch=TINY, **kwargs)


def test_registry_builds_with_arguments():
    model = MODELS.build(dict(type='GoogLeNet', arch=TINY,
                              branch3_kernel_size=5))
    assert isinstance(model, GoogLeNet)
    assert model.inception4a.branch3[1].conv.kernel_size == (5, 5)


def test_aux_taps_follow_feature_info_in_train_and_eval():
    """The maps the auxiliary classifiers read come first, then the
    out_indices outputs, in both modes, as feature_info says."""
    model = GoogLeNet(aux_taps=('inception4a', 'inception4d'),
                      out_indices=(1, 3))
    assert model.feature_info == [
        dict(index=2, channels=512, stride=16, tap='inception4a'),
        dict(index=2, channels=528, stride=16, tap='inception4d'),
        dict(index=1, channels=480, stride=8),
        dict(index=3, channels=1024, stride=32),
    ]
    assert model.out_channels == (512, 528, 480, 1024)
    maps = {}
    for name in ('inception4a', 'inception4d'):
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: maps.__setitem__(name, o))
    x = torch.rand(1, 3, 64, 64)
    for mode in (True, False):
        with torch.no_grad():
            outs = model.train(mode)(x)
        assert [o.shape[1] for o in outs] == list(model.out_channels)
        assert [o.shape[2] for o in outs] == [4, 4, 8, 2]  # 64 / stride
        assert outs[0] is maps['inception4a']
        assert outs[1] is maps['inception4d']


def test_aux_taps_default_outputs_unchanged():
    plain = GoogLeNet(arch=TINY, out_indices=(0, 1, 2, 3)).eval()
    tapped = GoogLeNet(arch=TINY, out_indices=(0, 1, 2, 3),
                       aux_taps=('inception4a', )).eval()
    tapped.load_state_dict(plain.state_dict())
    assert plain.taps == () and len(plain.feature_info) == 4
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        outs, (tap, *rest) = plain(x), tapped(x)
    assert tap.shape[1] == 8 + 8 + 4 + 4  # TINY's inception4a
    for a, b in zip(outs, rest):
        torch.testing.assert_close(a, b)


def test_aux_taps_with_cp_gradients_reach_the_tapped_stage():
    x = torch.rand(2, 3, 32, 32)
    plain = GoogLeNet(arch=TINY, aux_taps=('inception4a', ))
    cp = GoogLeNet(arch=TINY, aux_taps=('inception4a', ), with_cp=True)
    cp.load_state_dict(plain.state_dict())
    grads = []
    for model in (plain, cp):
        tap, _ = model.train()(x)
        tap.sum().backward()  # the tap alone
        grads.append(model.inception4a.branch1.conv.weight.grad)
        assert model.inception4b.branch1.conv.weight.grad is None
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize('aux_taps, error, match', [
    (('inception4f', ), ValueError, r"unknown names \['inception4f'\]"),
    (('maxpool3', ), ValueError, 'valid names'),
    ('inception4a', TypeError, 'aux_taps must be a sequence'),
    (('inception4a', 'inception4a'), ValueError, 'names a block twice'),
])
def test_aux_taps_bad_names(aux_taps, error, match):
    with pytest.raises(error, match=match):
        GoogLeNet(arch=TINY, aux_taps=aux_taps)
