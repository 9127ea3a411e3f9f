"""BaseBackbone.declare_stages: one explicit declaration, no magic."""
import inspect

import pytest
import torch
import torch.nn as nn

import mmbackbones.models.base as base
from mmbackbones.models import EfficientNet, ResNet
from mmbackbones.models.base import BaseBackbone


class Tiny(BaseBackbone):
    """A stem conv and two one-conv stages."""

    def __init__(self, declare: bool = True, freeze_units=None, **base_args):
        super().__init__(**base_args)
        self.conv = nn.Conv2d(3, 4, 3, 2, 1)
        self.layer1 = nn.Sequential(nn.Conv2d(4, 8, 3, 2, 1), nn.ReLU())
        self.layer2 = nn.Conv2d(8, 16, 3, 2, 1)
        if declare:
            self.declare_stages(stem=['conv'],
                                stages=[self.blocks('layer1'), ['layer2']],
                                channels=[8, 16], strides=[4, 8],
                                freeze_units=freeze_units)


def test_signatures_are_the_families_own():
    params = inspect.signature(ResNet).parameters
    assert list(params)[0] == 'depth' and 'deep_stem' in params
    assert not hasattr(base, '_BackboneMeta')
    # mmpretrain's base is an ABC; we add no metaclass of our own.
    assert type(ResNet) is type(base.MMPretrainBaseBackbone)


def test_base_arguments_are_keyword_only():
    params = inspect.signature(BaseBackbone).parameters
    assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY
               for name in ('out_indices', 'frozen_stages', 'norm_eval',
                            'with_cp', 'in_channels', 'init_cfg'))
    with pytest.raises(TypeError):
        BaseBackbone(-1)


def test_forgetting_the_declaration_fails_loudly():
    model = Tiny(declare=False)
    for use in (lambda: model(torch.rand(1, 3, 16, 16)), model.train,
                model.stage_modules, lambda: model.feature_info):
        with pytest.raises(RuntimeError, match=r'Tiny.__init__ must end '
                           r'with self.declare_stages'):
            use()


def test_a_declaration_naming_no_module_is_an_error():
    class Wrong(Tiny):

        def __init__(self):
            super().__init__(declare=False)
            self.declare_stages(stem=['conv'], stages=[['layer3']],
                                channels=[8], strides=[4])

    with pytest.raises(RuntimeError, match="names 'layer3', which is not"):
        Wrong()


def test_stages_are_plain_lists_of_the_registered_modules():
    model = Tiny()
    stages = model.stage_modules()
    assert [type(s) for s in stages] == [list, list]
    # blocks('layer1') names its children: the stage runs block by block.
    assert model.blocks('layer1') == ['layer1.0', 'layer1.1']
    assert stages[0] == list(model.layer1) and stages[1] == [model.layer2]
    assert model.stem_modules() == [model.conv]
    assert [tuple(o.shape) for o in model.eval()(torch.rand(1, 3, 16, 16))
            ] == [(1, 16, 2, 2)]


def test_a_module_replaced_in_place_is_the_one_that_runs():
    # conv-BN fusion swaps modules in their parents: nothing may hold the
    # old one.
    model = Tiny(out_indices=(0, 1)).eval()
    model.layer2 = nn.Conv2d(8, 5, 1)
    assert model(torch.rand(1, 3, 16, 16))[1].shape[1] == 5
    assert model.stage_modules()[1] == [model.layer2]


def test_frozen_stages_follow_the_declared_freeze_units():
    model = Tiny(frozen_stages=1).train()
    frozen = {n.split('.')[0] for n, p in model.named_parameters()
              if not p.requires_grad}
    assert frozen == {'conv', 'layer1'}
    assert not any(m.training for m in (model.conv, *model.layer1))
    assert model.layer2.training
    # A family counting like its reference declares its units: here 0
    # freezes nothing and 1 the stem.
    model = Tiny(frozen_stages=1, freeze_units=[[], ['conv'],
                                                ['layer1']]).train()
    assert [n for n, p in model.named_parameters() if not p.requires_grad
            ] == ['conv.weight', 'conv.bias']
    with pytest.raises(ValueError, match=r'frozen_stages must be in -1..2 '
                       r'for Tiny \(-1: none, k: the stem and the first k '
                       r'stages\), but got 3'):
        Tiny(frozen_stages=3)


def test_stem_is_output_counts_the_stem_as_output_zero():
    model = EfficientNet(arch=dict(width=0.25, depth=0.25),
                         out_indices=(0, 1)).eval()
    outs = model(torch.rand(1, 3, 32, 32))
    assert model.stem_is_output and model.stem_modules() == [model.layers[0]]
    assert [o.shape[1] for o in outs] == list(model.out_channels)
    assert outs[0].shape[-1] == 16  # the stem's stride-2 map
