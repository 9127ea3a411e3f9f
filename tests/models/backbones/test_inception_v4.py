import pytest
import timm
import torch
from backbone_checks import (BackboneContract, build_meta,
                             check_equivalent_outputs, count_params,
                             randomize_bn, relative_error)

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import InceptionV4
from mmbackbones.models.backbones.inception_v4 import (INCEPTION_A,
                                                       REDUCTION_A,
                                                       InceptionV4Block)

# The smallest input Inception v4 accepts: the stages are then 35, 15, 7, 3
# and 1 pixels wide.
SIZE = 75
# Where our five stages end in timm's ``features`` Sequential: Conv2d_2b,
# Mixed_4a, Mixed_5e, Mixed_6h, Mixed_7d.
TIMM_STAGE_ENDS = (2, 4, 9, 17, 21)
ALL_STAGES = (0, 1, 2, 3, 4)


def timm_ref(**kwargs):
    return timm.create_model('inception_v4', **kwargs)


def timm_stage_maps(ref):
    """A callable returning the maps at our five stage ends (forward hooks
    on timm's ``features``)."""

    def run(x):
        maps = []
        hooks = [ref.features[i].register_forward_hook(
            lambda m, i, o: maps.append(o)) for i in TIMM_STAGE_ENDS]
        try:
            ref(x)
        finally:
            for h in hooks:
                h.remove()
        return tuple(maps)

    return run


def test_params_match_timm():
    ours = count_params(build_meta(InceptionV4))
    assert ours == 41_142_816
    ref = build_meta(timm_ref)
    assert ours == count_params(ref, exclude_prefixes=['last_linear.'])
    assert count_params(ref) == 42_679_816  # "42.68 M" with the fc


def test_timm_equivalence_every_stage():
    ref = randomize_bn(timm_ref(num_classes=10)).eval()
    ours = InceptionV4(out_indices=ALL_STAGES)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm', ours),
                         strict=True)
    # The smallest input (1x1 at the end: every padded border counts, so a
    # wrong count_include_pad would show) and a non-square one.
    for x in (torch.rand(2, 3, SIZE, SIZE), torch.rand(1, 3, 80, 101)):
        check_equivalent_outputs(ours, timm_stage_maps(ref), x)
        with torch.no_grad():
            torch.testing.assert_close(ours.eval()(x)[-1],
                                       ref.forward_features(x), rtol=0,
                                       atol=0)


def test_feature_info_against_timm_and_shapes_at_299():
    model = build_meta(InceptionV4, out_indices=ALL_STAGES)
    assert model.feature_info == [
        dict(index=0, channels=64, stride=2),
        dict(index=1, channels=192, stride=4),
        dict(index=2, channels=384, stride=8),
        dict(index=3, channels=1024, stride=16),
        dict(index=4, channels=1536, stride=32),
    ]
    timm_info = build_meta(timm_ref).feature_info
    assert [i['reduction'] for i in timm_info] == list(model.out_strides)
    # timm taps stride 4 after Mixed_3a (160 channels); ours is the last
    # stride-4 map, after Mixed_4a. The other four are the same maps.
    assert [i['num_chs'] for i in timm_info] == [64, 160, 384, 1024, 1536]
    with torch.device('meta'):
        outs = model.eval()(torch.empty(1, 3, 299, 299))
    assert [tuple(o.shape) for o in outs] == [
        (1, 64, 147, 147), (1, 192, 71, 71), (1, 384, 35, 35),
        (1, 1024, 17, 17), (1, 1536, 8, 8)]
    assert InceptionV4().out_indices == (4, )


def test_blocks_keep_or_reduce_the_grid():
    block = InceptionV4Block(384, INCEPTION_A)
    assert block.out_channels == 384
    assert block(torch.rand(1, 384, 5, 5)).shape == (1, 384, 5, 5)
    reduction = InceptionV4Block(384, REDUCTION_A)
    assert reduction.out_channels == 1024
    assert reduction(torch.rand(1, 384, 7, 6)).shape == (1, 1024, 3, 2)


def test_converter_rejects_other_weights():
    ours = InceptionV4()
    sd = timm_ref().state_dict()
    # Four input channels: not this network's first convolution.
    sd['features.0.conv.weight'] = torch.zeros(32, 4, 3, 3)
    with pytest.raises(ValueError, match='shape mismatch'):
        convert_state_dict(sd, 'timm', ours)
    del sd['features.21.branch3.1.conv.weight']
    with pytest.raises(ValueError, match=r'missing.*Mixed_7d\.branch3\.1'):
        convert_state_dict(sd, 'timm', ours)


def test_bad_input_and_arguments():
    with pytest.raises(ValueError, match='at least 75x75'):
        InceptionV4()(torch.rand(1, 3, 74, 80))
    with pytest.raises(ValueError, match='in_channels'):
        InceptionV4(in_channels=0)


def test_norm_cfg_and_in_channels():
    model = InceptionV4(norm_cfg=dict(type='GN', num_groups=8),
                        in_channels=1, out_indices=(0, 4)).eval()
    assert model.Mixed_7d.branch2[3][1].gn.num_groups == 8
    with torch.no_grad():
        outs = model(torch.rand(1, 1, SIZE, SIZE))
    assert [o.shape[1] for o in outs] == [64, 1536]


class TestInceptionV4Contract(BackboneContract):
    num_stages = 5
    input_size = SIZE
    check_spatial = False  # unpadded ("V") convolutions

    @staticmethod
    def build(**kwargs):
        return InceptionV4(**kwargs)

    def test_channels_last(self):
        # The shared check compares with an absolute 1e-5 tolerance. With
        # fresh BN statistics (mean 0, var 1: no normalisation in eval
        # mode) the untrained maps grow ~10x per stage, to ~1e3 at stride
        # 32, where float32 reordering differs by ~1e-4 absolute (~1e-6 of
        # the maximum). So the same check with the error relative to the
        # largest value, as the equivalence tests measure it.
        model, x = self.all_stages().eval(), self.x()
        with torch.no_grad():
            ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            outs = model(x_cl)
        for out, expected in zip(outs, ref):
            assert relative_error(out, expected) < 1e-5
        model.train()
        sum(o.mean() for o in model(x_cl)).backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all()
                   for p in model.parameters())
