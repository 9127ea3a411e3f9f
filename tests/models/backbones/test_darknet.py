import functools
import importlib.util
import os

import mmdet
import pytest
import timm
import torch
from backbone_checks import (BackboneContract, build_meta,
                             check_equivalent_outputs, count_params,
                             randomize_bn, relative_error)

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import DARKNET_ARCHS, DarkBlock, Darknet
from mmbackbones.registry import MODELS

TINY = dict(num_blocks=(1, 1, 2, 1, 1), channels=(8, 16, 32, 32, 64),
            stem_channels=8)
#: timm's darknet53 uses LeakyReLU(0.01); the paper and mmdet use 0.1.
TIMM_ACT = dict(type='LeakyReLU', negative_slope=0.01)
ALL = (0, 1, 2, 3, 4, 5)


def timm_outputs(model):
    """timm's stem and five stages, as our six outputs."""

    def run(x):
        x = model.stem(x)
        outs = [x]
        for stage in model.stages:
            x = stage(x)
            outs.append(x)
        return outs

    return run


def timm_darknet53():
    return timm.create_model('darknet53')


def test_params_match_timm():
    ours = build_meta(Darknet, 53)
    ref = build_meta(timm_darknet53)
    assert count_params(ours) == count_params(ref, exclude_prefixes=['head.'])
    assert count_params(ours) == 40584928


def test_timm_equivalence_every_output():
    ref = randomize_bn(timm_darknet53()).eval()
    ours = Darknet(53, out_indices=ALL, act_cfg=TIMM_ACT)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    x = torch.rand(1, 3, 32, 32)
    check_equivalent_outputs(ours, timm_outputs(ref), x)
    # the paper's (and mmdet's) LeakyReLU(0.1) is another function
    paper = Darknet(53, out_indices=ALL)
    paper.load_state_dict(ours.state_dict())
    with torch.no_grad():
        assert relative_error(paper.eval()(x)[-1], ours(x)[-1]) > 1e-3


def test_mmdet_layout():
    """Keys, output numbering and defaults of mmdet's Darknet(depth=53)."""
    model = Darknet(depth=53)
    keys = model.state_dict()
    assert 'conv1.conv.weight' in keys
    assert 'conv_res_block1.conv.conv.weight' in keys
    assert keys['conv_res_block5.res3.conv2.conv.weight'].shape == (1024, 512,
                                                                    3, 3)
    assert 'conv_res_block5.res4.conv1.conv.weight' not in keys
    assert model.cr_blocks == ['conv1'] + [f'conv_res_block{i}'
                                           for i in range(1, 6)]
    assert model.out_indices == (3, 4, 5) and model.norm_eval
    act = model.conv1.activate
    assert isinstance(act, torch.nn.LeakyReLU) and act.negative_slope == 0.1
    assert model.feature_info == [
        dict(index=3, channels=256, stride=8),
        dict(index=4, channels=512, stride=16),
        dict(index=5, channels=1024, stride=32)]


def test_arch_table_is_yolov3_table1():
    arch = DARKNET_ARCHS[53]
    # 1 + 5 downsampling convs + 2 per residual block + the classifier = 53
    assert 1 + len(arch.num_blocks) + 2 * sum(arch.num_blocks) + 1 == 53
    assert arch.channels == (64, 128, 256, 512, 1024)
    model = build_meta(Darknet, 53)
    assert model.stage_strides == (1, 2, 4, 8, 16, 32)
    assert len(model.conv_res_block3) == 1 + 8


def test_frozen_stages_counts_conv1_as_mmdet():
    model = Darknet(TINY, frozen_stages=2).train()
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(p.requires_grad
                   for p in model.conv_res_block1.parameters())
    assert all(p.requires_grad for p in model.conv_res_block2.parameters())


def test_dark_block():
    block = DarkBlock(16, expansion=2)
    assert block.conv1.conv.out_channels == 8
    x = torch.rand(1, 16, 4, 4)
    with torch.no_grad():
        block.conv2.bn.weight.zero_()
        block.conv2.bn.bias.zero_()
    # with a zeroed last norm the branch is 0 and the block the identity
    torch.testing.assert_close(block.eval()(x), x)
    with pytest.raises(ValueError, match='expansion'):
        DarkBlock(1, expansion=2)


class TestDarknetContract(BackboneContract):
    num_stages = 6

    @staticmethod
    def build(**kwargs):
        # mmdet's default norm_eval=True would keep every BN in eval mode;
        # the contract checks training behaviour (norm_eval on its own).
        kwargs.setdefault('norm_eval', False)
        return Darknet(TINY, **kwargs)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r'depth must be one of \[53\]'):
        Darknet(depth=21)
    with pytest.raises(ValueError, match='one entry per stage'):
        Darknet(dict(num_blocks=(1, 1), channels=(8, )))
    with pytest.raises(ValueError, match='missing the keys'):
        Darknet(dict(num_blocks=(1, 1)))
    with pytest.raises(ValueError, match='unknown keys'):
        Darknet(dict(TINY, width=2))
    with pytest.raises(ValueError, match='positive ints'):
        Darknet(dict(TINY, channels=(8, 16, 0, 32, 64)))
    with pytest.raises(TypeError, match='pretrained'):
        Darknet(pretrained=3)


def test_converter_rejects_other_architecture():
    ref = timm_darknet53()
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(ref.state_dict(), 'timm', Darknet(TINY))
    with pytest.raises(ValueError, match="no converter from 'torchvision'"):
        convert_state_dict(ref.state_dict(), 'torchvision', Darknet(TINY))


def test_registry_builds_with_mmdet_arguments():
    model = MODELS.build(dict(type='Darknet', depth=53, out_indices=(5, ),
                              norm_eval=False, frozen_stages=1))
    assert isinstance(model, Darknet)
    assert model.out_channels == (1024, ) and not model.norm_eval
    assert not model.conv1.conv.weight.requires_grad


@functools.lru_cache(maxsize=None)
def mmdet_darknet_class():
    """mmdet's Darknet, loaded from its file: ``mmdet.models`` itself
    needs full mmcv's compiled ops, which mmcv-lite lacks; darknet.py
    needs only mmcv.cnn and mmengine. Once: loading registers it in
    mmdet's registry, where a second registration is an error."""
    path = os.path.join(os.path.dirname(mmdet.__file__), 'models',
                        'backbones', 'darknet.py')
    spec = importlib.util.spec_from_file_location('mmdet_darknet', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Darknet


def test_mmdet_equivalence_every_output():
    """mmdet's Darknet(depth=53): the same keys and shapes in the same
    order, and the same six outputs with its random weights."""
    ref = randomize_bn(mmdet_darknet_class()(depth=53, out_indices=ALL))
    ours = Darknet(53, out_indices=ALL)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in ref.state_dict().items()]
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.eval()  # mmdet's train() returns None: no chaining
    check_equivalent_outputs(ours, ref, torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize('frozen', range(-1, 7))
def test_frozen_stages_freezes_as_mmdet(frozen):
    ref = mmdet_darknet_class()(depth=53, frozen_stages=frozen)
    ref.train()
    ours = build_meta(Darknet, 53, frozen_stages=frozen).train()

    def frozen_names(model):
        return sorted(n for n, p in model.named_parameters()
                      if not p.requires_grad)

    assert frozen_names(ours) == frozen_names(ref)
    assert bool(frozen_names(ours)) == (frozen >= 1)


def test_base_arguments_are_keywords():
    # a misspelt base argument names itself; mmdet's third positional
    # argument (frozen_stages) is not silently something else
    with pytest.raises(TypeError, match='frozen_stage'):
        Darknet(TINY, frozen_stage=1)
    with pytest.raises(TypeError):
        Darknet(TINY, (3, 4, 5), 1)
    model = Darknet(TINY, in_channels=1, with_cp=True, frozen_stages=1)
    assert model.conv1.conv.in_channels == 1 and model.with_cp
    with pytest.raises(ValueError, match='cannot be given together'):
        Darknet(TINY, pretrained='x.pth', init_cfg=dict(type='Pretrained',
                                                        checkpoint='y'))
