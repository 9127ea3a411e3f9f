import pytest
import timm
import torch
import torch.nn as nn
import torchvision
from backbone_checks import (BackboneContract, build_meta, check_equivalent,
                             check_equivalent_outputs,
                             check_mmpretrain_checkpoint, count_params,
                             randomize_bn)

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import DENSENET_ARCHS, DenseNet
from mmbackbones.registry import MODELS

TINY = dict(growth_rate=8, depths=[2, 3, 2, 2], init_channels=16)


def torchvision_ref(arch):
    """torchvision's model for a preset; DenseNet-264 has no builder, so
    its class with the paper's Table 1 column."""
    if arch == '264':
        return torchvision.models.densenet.DenseNet(
            growth_rate=32, block_config=(6, 12, 64, 48),
            num_init_features=64)
    return getattr(torchvision.models, f'densenet{arch}')()


def torchvision_stages(model):
    """The four stage outputs of a torchvision/timm DenseNet, as ours:
    after each transition, then norm5 + ReLU."""
    f = model.features

    def run(x):
        outs = []
        x = f.pool0(f.relu0(f.norm0(f.conv0(x)))) if hasattr(
            f, 'relu0') else f.pool0(f.norm0(f.conv0(x)))
        for i in range(1, 5):
            x = getattr(f, f'denseblock{i}')(x)
            x = getattr(f, f'transition{i}')(x) if i < 4 else torch.relu(
                f.norm5(x))
            outs.append(x)
        return outs

    return run


@pytest.mark.parametrize('arch', ['121', '161', '169', '201', '264'])
def test_params_match_torchvision(arch):
    ours = build_meta(DenseNet, arch)
    ref = build_meta(torchvision_ref, arch)
    assert count_params(ours) == count_params(
        ref, exclude_prefixes=['classifier.'])
    assert ours.out_channels == (ref.classifier.in_features, )


@pytest.mark.parametrize('arch', ['121', '161', '169', '201'])
def test_params_match_mmpretrain(arch):
    from mmpretrain.models import DenseNet as MMPretrainDenseNet
    assert count_params(build_meta(DenseNet, arch)) == count_params(
        build_meta(MMPretrainDenseNet, arch))


@pytest.mark.parametrize('arch', ['121', '161', '169', '201', '264'])
def test_torchvision_equivalence_every_stage(arch):
    torch.manual_seed(0)
    ref = randomize_bn(torchvision_ref(arch)).eval()
    ours = DenseNet(arch, out_indices=(0, 1, 2, 3))
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours),
        strict=True)
    check_equivalent_outputs(ours, torchvision_stages(ref),
                             torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize('arch', ['121', '161'])
def test_timm_equivalence_every_stage(arch):
    ref = randomize_bn(timm.create_model(f'densenet{arch}')).eval()
    ours = DenseNet(arch, out_indices=(0, 1, 2, 3))
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    x = torch.rand(1, 3, 32, 32)
    check_equivalent_outputs(ours, torchvision_stages(ref), x)
    # timm's own feature path (its norm5 is BN + ReLU in one module).
    check_equivalent(ours, ref.forward_features, x)


def test_torchvision_old_key_pattern():
    """torchvision's first checkpoints: ``norm.1``, ``conv.2``..."""
    ref = randomize_bn(torchvision.models.densenet121()).eval()
    old = {}
    for key, value in ref.state_dict().items():
        for part in ('norm1', 'norm2', 'conv1', 'conv2'):
            key = key.replace(f'.{part}.', f'.{part[:-1]}.{part[-1]}.')
        old[key] = value
    assert 'features.denseblock1.denselayer1.norm.1.weight' in old
    ours = DenseNet('121')
    ours.load_state_dict(convert_state_dict(old, 'torchvision', ours),
                         strict=True)
    check_equivalent(ours, lambda x: torchvision_stages(ref)(x)[-1],
                     torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize('arch', ['121', TINY])
def test_mmpretrain_equivalence(arch):
    from mmpretrain.models import DenseNet as MMPretrainDenseNet
    check_mmpretrain_checkpoint(
        DenseNet(arch=arch, out_indices=(0, 1, 2, 3)),
        MMPretrainDenseNet(arch=arch, out_indices=[0, 1, 2, 3]),
        torch.rand(1, 3, 32, 32))


def test_converter_rejects_other_architecture():
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(torchvision.models.densenet121().state_dict(),
                           'torchvision', DenseNet('169'))


class TestDenseNetContract(BackboneContract):
    num_stages = 4
    registry_cfg = dict(type='DenseNet', arch=TINY)

    @staticmethod
    def build(**kwargs):
        return DenseNet(arch=TINY, **kwargs)


def test_arch_table():
    """Paper Table 1 columns (k = 32, stem 2k) and DenseNet-161 (k = 48)."""
    for name, depths in (('121', (6, 12, 24, 16)), ('169', (6, 12, 32, 32)),
                         ('201', (6, 12, 48, 32)), ('264', (6, 12, 64, 48))):
        assert DENSENET_ARCHS[name].depths == depths
        assert DENSENET_ARCHS[name].growth_rate == 32
        assert DENSENET_ARCHS[name].init_channels == 64
    assert DENSENET_ARCHS['161'].growth_rate == 48
    assert DENSENET_ARCHS['161'].init_channels == 96
    # Layer count: 2 per dense layer + stem conv + 3 transitions + the fc.
    # Table 1's "264" column counts 265 that way (a known quirk of the
    # paper; torchvision's and timm's 264 use the same depths).
    for name in ('121', '169', '201', '264'):
        depth = 2 * sum(DENSENET_ARCHS[name].depths) + 5
        assert depth == (265 if name == '264' else int(name))


def test_feature_info_and_default_output():
    model = build_meta(DenseNet, '121', out_indices=(0, 1, 2, 3))
    assert model.feature_info == [
        dict(index=0, channels=128, stride=8),
        dict(index=1, channels=256, stride=16),
        dict(index=2, channels=512, stride=32),
        dict(index=3, channels=1024, stride=32),
    ]
    assert build_meta(DenseNet).out_indices == (3, )  # mmpretrain's -1
    assert build_meta(DenseNet, '161').out_channels == (2208, )


def test_custom_arch_and_compression():
    model = DenseNet(arch=dict(TINY, depths=[2, 2]), bn_size=2,
                     compression_factor=0.75, out_indices=(0, 1))
    # 16 + 2 * 8 = 32 -> floor(32 * 0.75) = 24 -> 24 + 16 = 40.
    assert model.stage_channels == (24, 40)
    assert model.stage_strides == (8, 8)
    assert model.stages[0].block[0].conv1.out_channels == 16
    outs = model(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 24, 4, 4), (1, 40, 4, 4)]


def test_memory_efficient_is_with_cp():
    model = DenseNet(arch=TINY, memory_efficient=True)
    assert model.with_cp and model.memory_efficient
    assert not DenseNet(arch=TINY).with_cp


def test_drop_rate_only_in_training():
    model = DenseNet(arch=TINY, drop_rate=0.5)
    x = torch.rand(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)[0], model(x)[0])
    model.train()
    torch.manual_seed(0)
    a = model(x)[0]
    torch.manual_seed(1)
    assert not torch.equal(a, model(x)[0])


def test_input_too_small():
    model = DenseNet(arch=TINY).eval()
    assert model.min_input_size == 29
    model(torch.rand(1, 3, 29, 29))  # the smallest that works
    with pytest.raises(ValueError, match='at least 29x29'):
        model(torch.rand(1, 3, 28, 28))


def test_a_stage_is_the_list_of_its_registered_modules():
    model = DenseNet(arch=TINY)
    names = {name for name, _ in model.named_modules()}
    assert 'stages.0.block.0.norm1' in names
    stage = model.stage_modules()[1]
    assert type(stage) is list
    assert stage[0] is model.stages[1].block[0]
    assert stage[-1] is model.transitions[1]


@pytest.mark.parametrize('kwargs, match', [
    (dict(arch='264d'), r"arch must be one of \['121', '169', '201', '264', "
     r"'161'\]"),
    (dict(arch=121), 'arch must be one of'),
    (dict(arch=dict(growth_rate=32, depths=[6, 12])), 'missing the keys'),
    (dict(arch=dict(TINY, depths=[])), 'depths must be a non-empty'),
    (dict(arch=dict(TINY, depths=[2, 0])), 'depths entries must be a '
     'positive int'),
    (dict(arch=dict(TINY, growth_rate=0)), 'growth_rate must be a positive'),
    (dict(arch=dict(TINY, init_channels=8.0)), 'init_channels must be'),
    (dict(bn_size=0), 'bn_size must be a positive int'),
    (dict(compression_factor=0), r'compression_factor must be in \(0, 1\]'),
    (dict(compression_factor=1.5), 'compression_factor must be in'),
    (dict(drop_rate=1.0), r'drop_rate must be in \[0, 1\)'),
])
def test_bad_arguments(kwargs, match):
    kwargs.setdefault('arch', TINY)
    with pytest.raises((ValueError, TypeError), match=match):
        DenseNet(**kwargs)


def test_registry_builds_with_arguments():
    model = MODELS.build(dict(type='DenseNet', arch=TINY, bn_size=2))
    assert isinstance(model, DenseNet)
    assert model.stages[0].block[0].conv1.out_channels == 16


def test_frozen_stages_never_freeze_the_stem_as_mmpretrain():
    # mmpretrain's DenseNet: k freezes stages and transitions 0..k-1.
    model = DenseNet(arch=TINY, frozen_stages=0).train()
    assert all(p.requires_grad for p in model.parameters())
    model = DenseNet(arch=TINY, frozen_stages=1).train()
    assert all(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.stages[0].parameters())
    assert not any(p.requires_grad for p in model.transitions[0].parameters())
    assert all(p.requires_grad for p in model.stages[1].parameters())
    assert isinstance(model.stem[0], nn.Conv2d)


def test_relu_in_place_unless_configured():
    model = DenseNet(arch=TINY)
    assert model.stages[0].block[0].act.inplace
    assert model.transitions[0].act.inplace and model.stem[2].inplace
    model = DenseNet(arch=TINY, act_cfg=dict(type='ReLU', inplace=False))
    assert not model.stages[0].block[0].act.inplace
    gelu = DenseNet(arch=TINY, act_cfg=dict(type='GELU'))
    assert isinstance(gelu.stages[0].block[0].act, nn.GELU)
