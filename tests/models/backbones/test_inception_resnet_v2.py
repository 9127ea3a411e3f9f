import pretrainedmodels
import pytest
import timm
import torch
from backbone_checks import (BackboneContract, build_meta,
                             check_equivalent_outputs, count_params,
                             randomize_bn)
from conftest import REPO_ROOT
from mmengine.config import Config

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import InceptionResNetV2
from mmbackbones.models.backbones.inception_resnet_v2 import (
    BLOCK35, InceptionResNetBlock)
from mmbackbones.registry import MODELS

# The smallest input: stages are 15, 7, 3 and 1 pixels.
SIZE = 75
# A small custom arch for the shared contract: every block type, one
# scaled C block and the linear last one.
SMALL = dict(num_blocks=(2, 2, 2))


def small_input(batch=2, size=SIZE):
    return torch.rand(batch, 3, size, size)


def timm_ref(**kwargs):
    return timm.create_model('inception_resnet_v2', **kwargs)


def converted(ref, source='timm', **kwargs):
    ours = InceptionResNetV2(**kwargs)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), source, ours),
                         strict=True)
    return ours


def test_params_match_references():
    ours = count_params(build_meta(InceptionResNetV2))
    assert ours == 54_306_464
    timm_model = build_meta(timm_ref)
    assert ours == count_params(timm_model, exclude_prefixes=['classif.'])
    # The whole timm classifier: 55.84 M with the 1000-class fc.
    assert count_params(timm_model) == ours + 1536 * 1000 + 1000 == \
        55_843_464
    cadene = build_meta(pretrainedmodels.inceptionresnetv2,
                        num_classes=1000, pretrained=None)
    assert ours == count_params(cadene, exclude_prefixes=['last_linear.'])


def test_timm_equivalence_all_stages():
    """Our four stages are timm's feature taps 1-4 (randomised BN)."""
    ref = randomize_bn(timm_ref(num_classes=10)).eval()
    ours = converted(ref, out_indices=(0, 1, 2, 3))
    check_equivalent_outputs(
        ours, lambda x: ref.forward_intermediates(
            x, indices=[1, 2, 3, 4], intermediates_only=True),
        small_input())  # tap 4 is timm's forward_features


def test_cadene_weights_convert_too():
    """pretrainedmodels' inceptionresnetv2 (where timm's port comes from)
    has timm's keys with ``last_linear``: one converter serves both
    sources."""
    ref = randomize_bn(pretrainedmodels.inceptionresnetv2(
        num_classes=1000, pretrained=None)).eval()
    ours = converted(ref, source='pretrainedmodels')
    check_equivalent_outputs(ours, lambda x: (ref.features(x), ),
                             small_input())


def test_residual_scales_and_linear_last_block_match_timm():
    with torch.device('meta'):
        ours, ref = InceptionResNetV2(), timm_ref()
    assert [b.scale for b in ours.repeat] == [0.17] * 10 == [
        b.scale for b in ref.repeat]
    assert [b.scale for b in ours.repeat_1] == [0.10] * 20 == [
        b.scale for b in ref.repeat_1]
    assert [b.scale for b in ours.repeat_2] == [0.20] * 9 == [
        b.scale for b in ref.repeat_2]
    assert all(b.activate for m in (ours.repeat, ours.repeat_1,
                                    ours.repeat_2) for b in m)
    assert ours.block8.scale == ref.block8.scale == 1.0
    assert not ours.block8.activate and ref.block8.relu is None


def test_block_is_scaled_residual_sum():
    """``relu(x + scale * conv2d(concat))``; without activation the sum is
    returned as it is (negative values survive)."""
    block = InceptionResNetBlock(BLOCK35, 320, scale=0.17).eval()
    x = torch.randn(2, 320, 5, 5)
    with torch.no_grad():
        up = block.conv2d(block.concat(x))
        torch.testing.assert_close(block(x), torch.relu(x + 0.17 * up))
        block.activate = False
        out = block(x)
        torch.testing.assert_close(out, x + 0.17 * up)
    assert (out < 0).any()


class TestInceptionResNetV2Contract(BackboneContract):
    num_stages = 4
    input_size = SIZE
    check_spatial = False  # unpadded convolutions (the paper's "V")
    registry_cfg = dict(type='InceptionResNetV2', arch=SMALL)

    @staticmethod
    def build(**kwargs):
        return InceptionResNetV2(arch=SMALL, **kwargs)


def test_feature_info_and_shapes_at_299():
    with torch.device('meta'):
        model = InceptionResNetV2(out_indices=(0, 1, 2, 3))
        outs = model(torch.empty(1, 3, 299, 299))
    assert model.feature_info == [
        dict(index=0, channels=192, stride=4),
        dict(index=1, channels=320, stride=8),
        dict(index=2, channels=1088, stride=16),
        dict(index=3, channels=1536, stride=32),
    ]
    # TF-slim's comments: 71x71x192, 35x35x320, 17x17x1088, 8x8x1536.
    assert [tuple(o.shape) for o in outs] == [(1, 192, 71, 71),
                                              (1, 320, 35, 35),
                                              (1, 1088, 17, 17),
                                              (1, 1536, 8, 8)]
    assert InceptionResNetV2().out_indices == (3, )


def test_smallest_input_is_75():
    with torch.device('meta'):
        model = InceptionResNetV2().eval()
        with pytest.raises(ValueError, match='at least 75x75'):
            model(torch.empty(1, 3, 74, 80))
        model(torch.empty(1, 3, 75, 75))
        model.min_input_size = 1  # 74 really fails inside the network
        with pytest.raises(RuntimeError):
            model(torch.empty(1, 3, 74, 74))


def test_early_outputs_skip_later_stages():
    model = InceptionResNetV2(arch=SMALL, out_indices=1).eval()
    calls = []
    model.mixed_6a.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        (out, ) = model(small_input())
    assert out.shape == (2, 320, 7, 7) and not calls


def test_custom_arch():
    model = InceptionResNetV2(
        arch=dict(num_blocks=(1, 3, 1), scales=(0.3, 0.2, 0.1)))
    assert [len(model.repeat), len(model.repeat_1),
            len(model.repeat_2)] == [1, 3, 0]  # C's only block is block8
    assert [model.repeat[0].scale, model.repeat_1[0].scale] == [0.3, 0.2]
    assert model.block8.scale == 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"arch must be one of \["
                       r"'inception_resnet_v2'\]"):
        InceptionResNetV2(arch='v1')
    with pytest.raises(ValueError, match='missing the keys'):
        InceptionResNetV2(arch=dict(scales=(0.1, 0.1, 0.1)))
    with pytest.raises(ValueError, match='unknown keys'):
        InceptionResNetV2(arch=dict(num_blocks=(1, 1, 1), widths=(1, 2)))
    with pytest.raises(ValueError, match='num_blocks must be 3 positive'):
        InceptionResNetV2(arch=dict(num_blocks=(1, 0, 1)))
    with pytest.raises(ValueError, match='num_blocks must be 3 positive'):
        InceptionResNetV2(arch=dict(num_blocks=(1, 1)))
    with pytest.raises(ValueError, match='scales must be 3 positive'):
        InceptionResNetV2(arch=dict(num_blocks=(1, 1, 1),
                                    scales=(0.1, -0.1, 0.1)))
    with pytest.raises(TypeError, match='norm_cfg must be a dict'):
        InceptionResNetV2(arch=SMALL, norm_cfg='BN')


def test_converter_rejects_other_architecture():
    with torch.device('meta'):
        sd = timm_ref().state_dict()
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict(sd, 'timm', InceptionResNetV2(arch=SMALL))


def test_recipe_preprocesses_as_timm_pretrained_cfg():
    """Converted Google/timm weights need timm's input normalisation and
    evaluation crop: the recipe's data preprocessor and test pipeline."""
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/inception_resnet_v2.py')
    timm_cfg = timm.models.get_pretrained_cfg('inception_resnet_v2.tf_in1k')
    # ours normalises 0-255 pixels, timm 0-1 ones
    assert [m / 255 for m in cfg.data_preprocessor.mean] == list(
        timm_cfg.mean)
    assert [s / 255 for s in cfg.data_preprocessor.std] == list(timm_cfg.std)
    resize, crop = cfg.test_dataloader.dataset.pipeline[1:3]
    assert crop.crop_size == timm_cfg.input_size[-1] == 299
    assert resize.scale == int(299 / timm_cfg.crop_pct)  # timm's floor
    assert resize.interpolation == timm_cfg.interpolation == 'bicubic'


def test_registry_builds_with_arguments():
    model = MODELS.build(dict(type='InceptionResNetV2', arch=SMALL,
                              out_indices=(1, 3)))
    assert isinstance(model, InceptionResNetV2)
    assert model.out_channels == (320, 1536)
