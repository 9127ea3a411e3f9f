import pytest
import torch
import torchvision
from backbone_checks import (BackboneContract, check_equivalent_outputs,
                             check_norm_eval, count_params)

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import SQUEEZENET_ARCHS, SqueezeNet
from mmbackbones.registry import MODELS

TORCHVISION = {'1_0': 'squeezenet1_0', '1_1': 'squeezenet1_1'}
#: Indices of torchvision's ``features`` after which each stage ends.
STAGE_ENDS = {'1_0': (5, 10, 12), '1_1': (4, 7, 12)}


def torchvision_stages(model, arch):
    features = model.features

    def run(x):
        outs = []
        for i, layer in enumerate(features):
            x = layer(x)
            if i in STAGE_ENDS[arch]:
                outs.append(x)
        return outs

    return run


@pytest.mark.parametrize('arch', list(TORCHVISION))
def test_params_and_keys_match_torchvision(arch):
    ours = SqueezeNet(arch)
    ref = getattr(torchvision.models, TORCHVISION[arch])()
    assert count_params(ours) == count_params(
        ref, exclude_prefixes=['classifier.'])
    assert list(ours.state_dict()) == [
        k for k in ref.state_dict() if not k.startswith('classifier.')]
    # The head's input: conv10's input channels.
    assert ours.out_channels == (ref.classifier[1].in_channels, )


@pytest.mark.parametrize('arch', list(TORCHVISION))
def test_torchvision_equivalence_every_stage(arch):
    torch.manual_seed(0)
    ref = getattr(torchvision.models, TORCHVISION[arch])().eval()
    ours = SqueezeNet(arch, out_indices=(0, 1, 2))
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours),
        strict=True)
    # An odd size exercises the ceil-mode pooling.
    check_equivalent_outputs(ours, torchvision_stages(ref, arch),
                             torch.rand(2, 3, 67, 67))


def test_plain_backbone_prefix_loads():
    # torchvision keys with a ``backbone.`` prefix are ours as they are.
    ref = torchvision.models.squeezenet1_1()
    ours = SqueezeNet('1_1')
    missing, unexpected = ours.load_state_dict(
        {k: v for k, v in ref.state_dict().items()
         if k.startswith('features.')}, strict=True)
    assert not missing and not unexpected


def test_converter_rejects_other_architecture():
    ref = torchvision.models.squeezenet1_0()
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'torchvision', SqueezeNet('1_1'))
    with pytest.raises(ValueError, match="no converter from 'mmpretrain'"):
        convert_state_dict(ref.state_dict(), 'mmpretrain', SqueezeNet())


class TestSqueezeNetContract(BackboneContract):
    num_stages = 3

    @staticmethod
    def build(**kwargs):
        return SqueezeNet('1_1', **kwargs)

    def test_norm_eval(self):
        # No normalisation layers: the shared check needs BNs; here
        # norm_eval must be accepted and change nothing.
        with pytest.raises(AssertionError):
            check_norm_eval(self.build, self.x())
        a, b = self.build(), self.build(norm_eval=True)
        b.load_state_dict(a.state_dict())
        a.train(), b.train()
        x = self.x()
        torch.testing.assert_close(a(x), b(x))


def test_arch_table_and_feature_info():
    assert list(SQUEEZENET_ARCHS) == ['1_0', '1_1']
    assert SqueezeNet('1_0', out_indices=(0, 1, 2)).feature_info == [
        dict(index=0, channels=256, stride=4),
        dict(index=1, channels=512, stride=8),
        dict(index=2, channels=512, stride=16),
    ]
    assert SqueezeNet('1_1', out_indices=(0, 1, 2)).out_channels == (
        128, 256, 512)
    assert SqueezeNet().out_indices == (2, )
    assert SqueezeNet('1_0').min_input_size == 21
    assert SqueezeNet('1_1').min_input_size == 17


def test_input_too_small():
    model = SqueezeNet('1_1')
    with pytest.raises(ValueError, match='at least 17x17'):
        model(torch.rand(1, 3, 16, 16))


def test_custom_arch():
    model = SqueezeNet(dict(stem_channels=8, stem_kernel=3,
                            stages=[[(4, 8, 8)], [(4, 16, 16)]]))
    assert model.stage_channels == (16, 32)
    assert model(torch.rand(1, 3, 32, 32))[0].shape[1] == 32


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"arch must be one of \['1_0'"):
        SqueezeNet('1_2')
    with pytest.raises(ValueError, match='missing the keys'):
        SqueezeNet(dict(stem_channels=8))
    with pytest.raises(ValueError, match=r'arch\["stages"\]'):
        SqueezeNet(dict(stem_channels=8, stem_kernel=3, stages=[[(4, 8)]]))
    with pytest.raises(ValueError, match=r'arch\["stem_kernel"\]'):
        SqueezeNet(dict(stem_channels=8, stem_kernel=0,
                        stages=[[(4, 8, 8)]]))


def test_registry_builds_with_arguments():
    model = MODELS.build(dict(type='SqueezeNet', arch='1_1'))
    assert isinstance(model, SqueezeNet) and model.arch == '1_1'
