import pytest
import timm
import torch
import torchvision
from backbone_checks import (BackboneContract, build_meta, check_equivalent,
                             check_equivalent_outputs, count_params,
                             randomize_bn)
from mmpretrain.models import InceptionV3 as MMPretrainInceptionV3

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import InceptionV3
from mmbackbones.registry import MODELS

# The smallest input Inception v3 accepts: stages are 7, 3 and 1 pixels.
SIZE = 75
STAGE_OUTPUTS = ('Mixed_5d', 'Mixed_6e', 'Mixed_7c')


def small_input(batch=2, size=SIZE):
    return torch.rand(batch, 3, size, size)


def torchvision_ref(**kwargs):
    # transform_input re-normalises the input inside the model (for
    # Google's TF weights); off, so the same x reaches both networks.
    return torchvision.models.inception_v3(init_weights=True,
                                           transform_input=False, **kwargs)


def with_features(ref, logits=True, aux=False):
    """A callable returning the three stage maps (+ the logits) of a
    reference, read with forward hooks; with ``aux``, first the logits of
    its ``AuxLogits`` on the Mixed_6e map (which references run in
    training only)."""

    def run(x):
        maps = []
        hooks = [getattr(ref, name).register_forward_hook(
            lambda m, i, o: maps.append(o)) for name in STAGE_OUTPUTS]
        try:
            out = ref(x)
        finally:
            for h in hooks:
                h.remove()
        if isinstance(out, tuple):  # mmpretrain: (aux, logits)
            out = out[-1]
        first = (ref.AuxLogits(maps[1]), ) if aux else ()
        return (*first, *maps, out) if logits else (*first, *maps)

    return run


def check_outputs_follow_feature_info(model, x):
    """In train and eval mode alike, one output per feature_info entry,
    with its channels."""
    for mode in (True, False):
        with torch.no_grad():
            outs = model.train(mode)(x)
        assert [o.shape[1] for o in outs] == [
            info['channels'] for info in model.feature_info], mode


def test_params_match_references():
    ours = count_params(build_meta(InceptionV3))
    assert ours == 21_785_568
    assert ours == count_params(build_meta(torchvision_ref, aux_logits=False),
                                exclude_prefixes=['fc.'])
    assert ours == count_params(build_meta(timm.create_model, 'inception_v3'),
                                exclude_prefixes=['fc.'])
    assert ours == count_params(build_meta(MMPretrainInceptionV3),
                                exclude_prefixes=['fc.'])
    # The whole classifier with the auxiliary head, as torchvision's.
    assert count_params(build_meta(
        InceptionV3, num_classes=1000, aux_logits=True)) == count_params(
            build_meta(torchvision_ref, aux_logits=True)) == 27_161_264


def test_torchvision_equivalence_all_outputs_and_aux():
    ref = randomize_bn(torchvision_ref(aux_logits=True, num_classes=10,
                                       dropout=0.0))
    ours = InceptionV3(num_classes=10, aux_logits=True, dropout=0.0,
                       out_indices=(0, 1, 2, 3))
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours),
        strict=True)
    # The auxiliary logits come first, in eval mode too (randomised BN
    # statistics); the aux head needs 299 px.
    check_equivalent_outputs(ours, with_features(ref.eval(), aux=True),
                             small_input(batch=1, size=299))
    with pytest.raises(ValueError, match='at least 299x299'):
        ours(small_input())
    # Training (batch statistics, so both networks normalise identically):
    # torchvision's (logits, aux_logits).
    ours.train(), ref.train()
    x = small_input(batch=2, size=299)
    aux, *outs = ours(x)
    expected = ref(x)
    torch.testing.assert_close(aux, expected.aux_logits)
    torch.testing.assert_close(outs[-1], expected.logits)
    assert ours.feature_info[0] == dict(index=1, channels=10, stride=16,
                                        tap='AuxLogits')
    assert len(ours.feature_info) == 5 == len(outs) + 1


def test_torchvision_converter_drops_heads_for_a_feature_backbone():
    ref = randomize_bn(torchvision_ref(aux_logits=True))
    ours = InceptionV3(out_indices=(0, 1, 2))
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'torchvision', ours),
        strict=True)
    check_equivalent_outputs(ours, with_features(ref.eval(), logits=False),
                             small_input())


def test_timm_equivalence():
    ref = randomize_bn(timm.create_model('inception_v3', num_classes=10))
    ours = InceptionV3(num_classes=10, out_indices=(2, 3))
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    ref.eval()
    check_equivalent(ours, ref.forward_features, small_input(), index=0)
    check_equivalent(ours, ref, small_input(), index=1)


def test_mmpretrain_equivalence():
    ref = randomize_bn(MMPretrainInceptionV3(num_classes=10,
                                             aux_logits=True))
    # A whole classifier checkpoint: the converter keeps the backbone part.
    checkpoint = {'state_dict': {f'backbone.{k}': v
                                 for k, v in ref.state_dict().items()}}
    checkpoint['state_dict']['head.fc.weight'] = torch.zeros(10, 10)
    ours = InceptionV3(num_classes=10, aux_logits=True,
                       out_indices=(0, 1, 2, 3))
    # mmpretrain's AuxLogits.* keys load into the backbone as they are.
    ours.load_state_dict(
        convert_state_dict(checkpoint, 'mmpretrain', ours), strict=True)
    ref.eval()  # mmpretrain's train() returns None, so no chaining
    check_equivalent_outputs(ours, with_features(ref, aux=True),
                             small_input(batch=1, size=299))


def test_converter_rejects_other_architecture():
    sd = torchvision_ref(aux_logits=False, num_classes=10).state_dict()
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(sd, 'torchvision',
                           InceptionV3(num_classes=10, aux_logits=True))
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(sd, 'torchvision', InceptionV3(num_classes=1000))


class TestInceptionV3Contract(BackboneContract):
    num_stages = 3
    input_size = SIZE
    check_spatial = False  # unpadded convolutions (the paper's "valid")

    @staticmethod
    def build(**kwargs):
        return InceptionV3(**kwargs)


def test_feature_info_and_shapes_at_299():
    model = InceptionV3(num_classes=10, out_indices=(0, 1, 2, 3)).eval()
    assert model.feature_info == [
        dict(index=0, channels=288, stride=8),
        dict(index=1, channels=768, stride=16),
        dict(index=2, channels=2048, stride=32),
        dict(index=3, channels=10, stride=32),
    ]
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 299, 299))
    assert [tuple(o.shape) for o in outs] == [(1, 288, 35, 35),
                                              (1, 768, 17, 17),
                                              (1, 2048, 8, 8), (1, 10)]
    assert InceptionV3().out_indices == (2, )
    assert InceptionV3(num_classes=5).out_indices == (3, )  # the logits


def test_early_outputs_skip_later_stages_but_keep_aux():
    model = InceptionV3(num_classes=10, aux_logits=True, out_indices=0)
    calls = []
    model.Mixed_7a.register_forward_hook(lambda *_: calls.append(1))
    model.train()
    aux, feat = model(small_input(size=299))
    assert aux.shape == (2, 10) and feat.shape == (2, 288, 35, 35)
    assert not calls  # stage 2 is not needed
    assert [i.get('tap') for i in model.feature_info] == ['AuxLogits', None]


def test_aux_taps_follow_feature_info_in_train_and_eval():
    """The map the recipe's auxiliary classifier reads comes first, then
    the out_indices outputs; feature_info says so in both modes."""
    model = InceptionV3(num_classes=10, aux_taps=('Mixed_6e', 'Mixed_5b'),
                        out_indices=(0, 2, 3))
    assert model.feature_info == [
        dict(index=1, channels=768, stride=16, tap='Mixed_6e'),
        dict(index=0, channels=256, stride=8, tap='Mixed_5b'),
        dict(index=0, channels=288, stride=8),
        dict(index=2, channels=2048, stride=32),
        dict(index=3, channels=10, stride=32),
    ]
    assert model.out_channels == (768, 256, 288, 2048, 10)
    assert model.out_strides == (16, 8, 8, 32, 32)
    check_outputs_follow_feature_info(model, small_input())
    # The taps are the blocks' outputs.
    maps = {}
    for name in ('Mixed_6e', 'Mixed_5b'):
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: maps.__setitem__(name, o))
    outs = model.eval()(small_input())
    assert outs[0] is maps['Mixed_6e'] and outs[1] is maps['Mixed_5b']
    # A tap beyond the last out_index still runs its stage.
    late = InceptionV3(aux_taps=('Mixed_6e', ), out_indices=0).eval()
    assert [o.shape[1] for o in late(small_input())] == [768, 288]


def test_aux_taps_default_is_todays_output():
    model = InceptionV3(num_classes=10, out_indices=(0, 1, 2, 3)).eval()
    assert model.taps == () and len(model.feature_info) == 4
    assert not any('tap' in info for info in model.feature_info)


def test_aux_taps_with_cp_and_frozen_stages():
    x = small_input()
    plain = InceptionV3(aux_taps=('Mixed_6e', ), out_indices=(0, 2))
    cp = InceptionV3(aux_taps=('Mixed_6e', ), out_indices=(0, 2),
                     with_cp=True)
    cp.load_state_dict(plain.state_dict())
    outs = [m.train()(x) for m in (plain, cp)]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)
    frozen = InceptionV3(aux_taps=('Mixed_6e', ), frozen_stages=2)
    tap, last = frozen.train()(x)
    assert not tap.requires_grad and last.requires_grad  # stage 1 frozen


def test_bad_arguments_and_input():
    with pytest.raises(ValueError, match='aux_logits=True needs num_classes'):
        InceptionV3(aux_logits=True)
    with pytest.raises(TypeError, match='num_classes must be an int'):
        InceptionV3(num_classes=True)
    with pytest.raises(TypeError, match='aux_logits must be a bool'):
        InceptionV3(num_classes=10, aux_logits=1)
    with pytest.raises(ValueError, match=r'dropout must be in \[0, 1\)'):
        InceptionV3(num_classes=10, dropout=1.5)
    with pytest.raises(ValueError, match='at least 75x75'):
        InceptionV3()(torch.rand(1, 3, 74, 80))
    with pytest.raises(ValueError, match=r"unknown names \['Mixed_6f'\]"):
        InceptionV3(aux_taps=('Mixed_6f', ))
    with pytest.raises(TypeError, match='aux_taps must be a sequence'):
        InceptionV3(aux_taps='Mixed_6e')
    with pytest.raises(ValueError, match='names a block twice'):
        InceptionV3(aux_taps=('Mixed_6e', 'Mixed_6e'))


def test_registry_builds_with_arguments():
    model = MODELS.build(dict(type='InceptionV3', num_classes=10,
                              aux_logits=True))
    assert isinstance(model, InceptionV3)
    assert model.AuxLogits.fc.out_features == 10
    assert model.fc.out_features == 10
