import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from backbone_checks import (BackboneContract, build_meta,
                             check_equivalent_outputs, count_params,
                             randomize_bn, relative_error)
from conftest import REPO_ROOT

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import BN_INCEPTION_ARCHS, BNInception, BNInceptionSpec

#: Columns: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool,
#: pool proj, stride.
TINY = dict(stem=(8, 16),
            inception3=[(4, 4, 4, 4, 4, 'avg', 4),
                        (0, 4, 4, 4, 4, 'max', 0, 2)],
            inception4=[(4, 4, 4, 4, 8, 'avg', 4),
                        (0, 4, 4, 4, 4, 'max', 0, 2)],
            inception5=[(4, 4, 8, 4, 4, 'max', 4)])
CAFFE_MEAN_BGR = [104, 117, 128]  # pretrainedmodels' settings['mean']


def cadene(**kwargs):
    pretrainedmodels = pytest.importorskip(
        'pretrainedmodels', reason='Cadene pretrainedmodels not installed')
    return pretrainedmodels.bninception(pretrained=None, **kwargs)


def pytorchcv_ref():
    provider = pytest.importorskip(
        'pytorchcv.model_provider', reason='pytorchcv not installed')
    return provider.get_model('bninception', pretrained=False)


def tapped(forward, taps):
    """Run ``forward`` once; return, for each ``(module, 'out' | 'in')`` of
    ``taps``, what it output or received, then ``forward``'s result: the
    reference cut at our stages (the classifiers' fixed 7x7 pools do not
    run at small inputs, so ``forward`` stops before them)."""

    def run(x):
        seen = {}

        def hook(index, kind):
            if kind == 'out':
                return lambda _m, _i, o: seen.setdefault(index, o.clone())
            return lambda _m, i: seen.setdefault(index, i[0].clone())

        hooks = [
            m.register_forward_hook(hook(i, kind)) if kind == 'out' else
            m.register_forward_pre_hook(hook(i, kind))
            for i, (m, kind) in enumerate(taps)
        ]
        try:
            out = forward(x)
        finally:
            for h in hooks:
                h.remove()
        return [seen[i] for i in range(len(taps))] + [out]

    return run


def cadene_stages(ref):
    """Cadene's BNInception at our four stage ends: conv2_3x3's ReLU, the
    inputs of 3c and 4e, and ``features``."""
    return tapped(ref.features, [(ref.conv2_relu_3x3, 'out'),
                                 (ref.inception_3c_3x3_reduce, 'in'),
                                 (ref.inception_4e_3x3_reduce, 'in')])


def test_params_match_both_references():
    ours, ref, cv = (build_meta(f) for f in (BNInception, cadene,
                                              pytorchcv_ref))
    assert count_params(ref) == count_params(cv) == 11295240
    assert (count_params(ours) == count_params(ref, ['last_linear.']) ==
            count_params(cv, ['output.']) == 10270240)
    assert ours.out_channels == (ref.last_linear.in_features, )


def test_pretrainedmodels_equivalence_every_stage():
    ref = randomize_bn(cadene()).eval()
    ours = BNInception(out_indices=(0, 1, 2, 3))
    # last_linear is dropped; every other key loads strictly.
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'pretrainedmodels', ours),
        strict=True)
    x = torch.rand(2, 3, 64, 64) * 255 - 128  # the Caffe model's range
    check_equivalent_outputs(ours, cadene_stages(ref), x)


def test_pytorchcv_equivalence_every_stage():
    ref = randomize_bn(pytorchcv_ref()).eval()
    with torch.no_grad():  # pytorchcv initialises conv biases to 0
        for m in ref.modules():
            if isinstance(m, nn.Conv2d):
                m.bias.uniform_(-0.5, 0.5)
    ours = BNInception(out_indices=(0, 1, 2, 3))
    ours.load_state_dict(
        convert_state_dict({'state_dict': ref.state_dict()}, 'pytorchcv',
                           ours),
        strict=True)
    f = ref.features
    run = tapped(f[:-1], [(f.init_block.conv2, 'out'), (f.stage1, 'out'),
                          (f.stage2, 'out')])  # f[-1]: the final pool
    check_equivalent_outputs(ours, run, torch.rand(2, 3, 64, 64))


def _old_caffe_layout(state_dict):
    """As PyTorch 0.3 saved TSN's BN-Inception: BN tensors (1, C), no
    ``num_batches_tracked``."""
    old = {}
    for key, value in state_dict.items():
        if key.endswith('num_batches_tracked'):
            continue
        if '_bn.' in key:
            value = value.reshape(1, -1)
        old[key] = value
    return old


def test_old_caffe_checkpoint_layout_converts():
    ref = randomize_bn(cadene()).eval()
    old = _old_caffe_layout(ref.state_dict())
    assert old['conv1_7x7_s2_bn.weight'].shape == (1, 64)
    ours = BNInception(out_indices=(0, 1, 2, 3))
    ours.load_state_dict(convert_state_dict(old, 'pretrainedmodels', ours),
                         strict=True)
    x = torch.rand(1, 3, 64, 64) * 255
    check_equivalent_outputs(ours, cadene_stages(ref), x)


def test_conv_bias_folds_into_bn_for_the_nobias_variant():
    ref = randomize_bn(cadene()).eval()
    ours = BNInception(conv_bias='auto', out_indices=(0, 1, 2, 3))
    assert ours.conv1.conv.bias is None
    converted = convert_state_dict(ref.state_dict(), 'pretrainedmodels',
                                   ours)
    assert not any(k.endswith('conv.bias') for k in converted)
    ours.load_state_dict(converted, strict=True)
    x = torch.rand(1, 3, 64, 64) * 255
    check_equivalent_outputs(ours, cadene_stages(ref), x)
    assert count_params(ours) == 10270240 - 10016  # one bias per conv


def test_caffe_preprocessing_gives_the_reference_outputs(tmp_path):
    """An RGB image file -> mmpretrain's loading pipeline (BGR, as cv2
    reads) -> the recipe's data preprocessor -> our converted backbone
    equals Cadene's model fed the BGR 0-255 tensor minus its mean, at the
    first stage and at the end; the shared RGB ImageNet normalisation does
    not (checked at the first stage: with random weights the deep features
    hardly depend on the input)."""
    from mmengine.config import Config
    from mmpretrain.datasets import LoadImageFromFile, PackInputs
    from mmpretrain.models import ClsDataPreprocessor
    from PIL import Image
    ref = randomize_bn(cadene()).eval()
    ours = BNInception(out_indices=(0, 3)).eval()
    ours.load_state_dict(
        convert_state_dict(ref.state_dict(), 'pretrainedmodels', ours))
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    path = str(tmp_path / 'image.png')  # lossless: exact pixels
    Image.fromarray(rgb).save(path)
    sample = PackInputs()(LoadImageFromFile()(dict(img_path=path)))
    batch = dict(inputs=[sample['inputs']],
                 data_samples=[sample['data_samples']])

    bgr = torch.from_numpy(rgb[..., ::-1].copy()).permute(2, 0, 1).float()
    mean = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float).view(3, 1, 1)
    with torch.no_grad():
        expected = cadene_stages(ref)((bgr - mean)[None])

    recipe = Config.fromfile(osp.join(REPO_ROOT, 'configs/bn_inception.py'))
    shared = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/_base_/datasets/imagenet.py'))
    errors = {}
    for name, cfg in (('recipe', recipe), ('shared', shared)):
        settings = {k: v for k, v in cfg.data_preprocessor.items()
                    if k != 'num_classes'}
        preprocessor = ClsDataPreprocessor(**settings)
        with torch.no_grad():
            feats = ours(preprocessor(batch, training=False)['inputs'])
        errors[name] = [relative_error(feats[0], expected[0]),
                        relative_error(feats[1], expected[3])]
    assert recipe.data_preprocessor.to_rgb is False
    assert max(errors['recipe']) <= 1e-5, errors
    assert errors['shared'][0] > 0.1, errors


def test_arch_table():
    """Fig. 5: output channels of every Inception row."""
    arch = BN_INCEPTION_ARCHS['bn_inception']
    assert arch['stem'] == (64, 192)
    channels, outs = 192, []
    for group in ('inception3', 'inception4', 'inception5'):
        outs.append([])
        for row in arch[group]:
            channels = row.out_channels(channels)
            outs[-1].append(channels)
    assert outs == [[256, 320, 576], [576, 576, 608, 608, 1056],
                    [1024, 1024]]
    assert arch['inception4'][4] == BNInceptionSpec(0, 128, 192, 192, 256,
                                                    'max', 0, stride=2)
    assert arch['inception5'][1].pool == 'max'  # 5b: "max + 128"


def test_feature_info_and_caffe_layers():
    model = BNInception(out_indices=(0, 1, 2, 3))
    assert model.feature_info == [
        dict(index=0, channels=192, stride=4),
        dict(index=1, channels=320, stride=8),
        dict(index=2, channels=608, stride=16),
        dict(index=3, channels=1024, stride=32),
    ]
    assert BNInception().out_indices == (3, )
    # The Caffe port's layers: conv bias, default BN, rounded-up pools.
    bn = model.inception3a.branch1.bn
    assert model.inception3a.branch1.conv.bias is not None
    assert (bn.eps, bn.momentum, bn.affine) == (1e-5, 0.1, True)
    pool = model.inception3a.branch4[0]
    assert isinstance(pool, nn.AvgPool2d) and pool.ceil_mode
    assert pool.count_include_pad
    assert isinstance(model.inception5b.branch4[0], nn.MaxPool2d)
    assert model.maxpool1.ceil_mode and model.inception3c.branch4[0].ceil_mode
    assert not hasattr(model.inception3c, 'branch1')
    assert len(model.inception4e.branch4) == 1  # pass-through pool


def test_input_sizes_follow_the_reference():
    """Which sizes run is the reference's own (shapes on the meta device,
    at the edges of the working ranges 32k - 1 .. 32k + 6), and the error
    names the nearest ones that do."""
    model = BNInception(arch=TINY)
    ours = BNInception()
    with torch.device('meta'):
        ref = cadene().eval()
        for size in (1, 29, 30, 31, 38, 39, 62, 63, 70, 71, 100, 223, 230,
                     231, 255, 299):
            try:
                ref.features(torch.empty(1, 3, size, size))
                works = True
            except RuntimeError:
                works = False
            assert ours.input_size_works(size) == works, size
    assert ours.min_input_size == 31 == model.min_input_size
    model.eval()(torch.rand(1, 3, 31, 38))  # the smallest that work
    with pytest.raises(ValueError, match='at least 31x31'):
        model(torch.rand(1, 3, 30, 64))
    with pytest.raises(ValueError, match=r'width of 39 pixels: inception3b '
                       r'gets a 5-pixel map.*nearest sizes that work are '
                       r'38 and 63'):
        model(torch.rand(1, 3, 64, 39))
    with pytest.raises(ValueError, match='height of 299 .* 294 and 319'):
        ours(torch.rand(1, 3, 299, 224))
    assert ours.eval()(torch.rand(1, 3, 224, 256))[0].shape == (1, 1024, 7, 8)


def test_custom_arch_stages_follow_the_reductions():
    rows = dict(TINY, inception5=[(4, 4, 4, 4, 4, 'avg', 4),
                                  dict(ch1x1=0, ch3x3red=4, ch3x3=4,
                                       dbl3x3red=4, dbl3x3=4, pool='max',
                                       pool_proj=0, stride=2)])
    model = BNInception(arch=rows, out_indices=(0, 1, 2, 3, 4))
    assert model.stage_strides == (4, 8, 16, 32, 64)
    assert model.stage_channels == (16, 16, 20, 16, 24)
    assert model.min_input_size == 63
    outs = model.eval()(torch.rand(1, 3, 64, 64))
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2, 1]
    stage = model.stage_modules()[2]
    assert stage[0] is model.inception3b and stage[-1] is model.inception4a


@pytest.mark.parametrize('kwargs, match', [
    (dict(arch='inception_v2'), r"arch must be one of \['bn_inception'\]"),
    (dict(arch=1), 'arch must be one of'),
    (dict(arch=dict(stem=(8, 16))), 'missing the keys'),
    (dict(arch=dict(TINY, depth=3)), 'unknown keys'),
    (dict(arch=dict(TINY, stem=(8, ))), 'arch stem must be 2'),
    (dict(arch=dict(TINY, inception4=[])),
     'inception4 must be a non-empty list'),
    (dict(arch=dict(TINY, inception5=[(1, 2, 3)])),
     r'inception5\[0\] must be 7 or 8 values'),
    (dict(arch=dict(TINY, inception5=[(1, 1, 1, 1, 1, 'mean', 1)])),
     "pool must be 'avg' or 'max'"),
    (dict(arch=dict(TINY, inception5=[(1, 1, 1, 1, 1, 'max', 1, 3)])),
     'stride must be 1 or 2'),
    (dict(arch=dict(TINY, inception5=[(1, 1, 1, 1, 1, 'max', 1, 2)])),
     'a stride-2 row has ch1x1=0'),
    (dict(arch=dict(TINY, inception3=[(1, 0, 1, 1, 1, 'avg', 1)])),
     r'inception3\[0\] ch3x3red must be a positive int'),
    (dict(arch=dict(TINY, inception3=[(-1, 1, 1, 1, 1, 'avg', 1)])),
     r'ch1x1 must be an int >= 0'),
    (dict(arch=dict(TINY, inception3=[dict(ch1x1=1)])), 'must have the '
     'fields'),
    (dict(arch=dict(TINY, inception3=[(0, 4, 4, 4, 4, 'max', 0, 2)])),
     'must start with a stride-1 row'),
    (dict(conv_bias='yes'), 'conv_bias must be True, False'),
])
def test_bad_arguments(kwargs, match):
    kwargs.setdefault('arch', TINY)
    with pytest.raises((ValueError, TypeError), match=match):
        BNInception(**kwargs)


class TestBNInceptionContract(BackboneContract):
    num_stages = 4
    input_size = 32  # the family's sizes: 31-38, 63-70, ...
    registry_cfg = dict(type='BNInception', arch=TINY)

    @staticmethod
    def build(**kwargs):
        return BNInception(arch=TINY, **kwargs)


def test_benchmark_builds_the_references():
    """The benchmark tools' pretrainedmodels / pytorchcv sources
    (mmbackbones.analysis.references)
    (the speed figures of docs/model_zoo/bn_inception.md) give the same
    features as the models themselves."""
    cadene(), pytorchcv_ref()  # skip without them
    from mmbackbones.analysis import references as benchmark
    x = torch.rand(1, 3, 32, 32)
    for name in ('pretrainedmodels:bninception', 'pytorchcv:bninception'):
        model = benchmark.build_reference(name).eval()
        assert count_params(model) == 10270240, name
        with torch.no_grad():
            assert model(x).shape == (1, 1024, 1, 1), name
    with pytest.raises(ValueError, match="pretrainedmodels has no 'bnx'"):
        benchmark.build_reference('pretrainedmodels:bnx')


def test_convert_weights_tool_with_the_recipe(tmp_path):
    """``tools/convert_weights.py --source pretrainedmodels`` on a Cadene
    checkpoint file writes weights the recipe's backbone loads strictly
    (``backbone.`` keys), giving Cadene's features."""
    from mmbackbones.cli import convert_weights
    ref = randomize_bn(cadene()).eval()
    src, out = str(tmp_path / 'bninception.pth'), str(tmp_path / 'out.pth')
    torch.save(ref.state_dict(), src)
    convert_weights.main(['--source', 'pretrainedmodels', '--config',
                          osp.join(REPO_ROOT, 'configs/bn_inception.py'),
                          src, out])
    state = torch.load(out, weights_only=True)['state_dict']
    ours = BNInception()
    ours.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()},
                         strict=True)
    x = torch.rand(1, 3, 64, 64) * 255
    check_equivalent_outputs(ours, lambda x: [ref.features(x)], x)
