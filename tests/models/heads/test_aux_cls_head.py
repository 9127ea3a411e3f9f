"""AuxClsHead: auxiliary losses in training, main logits at inference,
torchvision's / mmpretrain's auxiliary weights, and the two recipes."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
import torchvision
from backbone_checks import randomize_bn
from conftest import REPO_ROOT
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmpretrain.models import (ClsHead, GlobalAveragePooling, ImageClassifier,
                               LabelSmoothLoss, LinearClsHead)
from mmpretrain.models import InceptionV3 as MMPretrainInceptionV3
from mmpretrain.structures import DataSample

from mmbackbones.converters import convert_state_dict
from mmbackbones.models import (AuxClsHead, GoogLeNet, GoogLeNetAux,
                                InceptionAux, InceptionV3)
from mmbackbones.registry import MODELS

TINY = dict(stem=(8, 16),
            inception3=[(4, 4, 8, 2, 4, 4), (8, 8, 8, 2, 4, 4)],
            inception4=[(8, 4, 8, 2, 4, 4), (8, 8, 8, 4, 4, 4)],
            inception5=[(8, 8, 16, 4, 4, 4)])
TINY_TAPS = ('inception4a', 'inception4b')  # 24 and 24 channels
NUM_CLASSES = 5


def googlenet_head(in_channels=1024, channels=(512, 528), weight=0.3,
                   adaptive_pool=False, dropout=0.7, num_classes=NUM_CLASSES,
                   **kwargs):
    return AuxClsHead(
        num_classes=num_classes, in_channels=in_channels, aux_weight=weight,
        aux_classifiers=[
            dict(type='GoogLeNetAux', name=f'aux{i + 1}', in_channels=c,
                 adaptive_pool=adaptive_pool, dropout=dropout)
            for i, c in enumerate(channels)
        ], **kwargs)


def tiny_setup(weight=0.3):
    backbone = GoogLeNet(arch=TINY, aux_taps=TINY_TAPS)
    head = googlenet_head(in_channels=32, channels=(24, 24), weight=weight,
                          adaptive_pool=True, dropout=0.0)
    return backbone, head


def samples(labels):
    return [DataSample().set_gt_label(int(i)) for i in labels]


def test_loss_dict_has_each_weighted_aux_loss():
    backbone, head = tiny_setup(weight=(0.3, 0.5))
    feats = backbone.train()(torch.rand(4, 3, 32, 32))
    labels = torch.tensor([0, 1, 2, 3])
    losses = head.loss(feats, samples(labels))
    assert set(losses) == {'loss', 'loss_aux1', 'loss_aux2'}
    aux = head.forward_aux(feats)
    torch.testing.assert_close(losses['loss_aux1'],
                               0.3 * F.cross_entropy(aux[0], labels))
    torch.testing.assert_close(losses['loss_aux2'],
                               0.5 * F.cross_entropy(aux[1], labels))
    torch.testing.assert_close(losses['loss'],
                               F.cross_entropy(head(feats), labels))


def test_aux_loss_alone_reaches_the_tapped_stage_only():
    backbone, head = tiny_setup()
    feats = backbone.train()(torch.rand(2, 3, 32, 32))
    losses = head.loss(feats, samples([1, 2]))
    losses['loss_aux1'].backward()  # aux1 reads inception4a
    grad = backbone.inception4a.branch2[1].conv.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert backbone.conv1.conv.weight.grad.abs().sum() > 0
    assert backbone.inception4b.branch1.conv.weight.grad is None
    assert head.fc.weight.grad is None and head.aux2.fc2.weight.grad is None


def test_predict_is_the_main_logits_only_as_without_aux():
    backbone, head = tiny_setup()
    plain = LinearClsHead(num_classes=NUM_CLASSES, in_channels=32)
    plain.fc.load_state_dict(head.fc.state_dict())
    calls = []
    for name in head.aux_names:
        getattr(head, name).register_forward_hook(lambda *_: calls.append(1))
    backbone.eval(), head.eval()
    with torch.no_grad():
        feats = backbone(torch.rand(3, 3, 32, 32))
        ours = head.predict(feats)
        ref = plain.predict(GlobalAveragePooling()(feats[-1:]))
    assert not calls  # the auxiliary classifiers do not run
    assert len(ours) == 3
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a.pred_score, b.pred_score)
        assert a.pred_label == b.pred_label
    # Inception v3's form: the last input already is the logits.
    v3 = AuxClsHead(num_classes=NUM_CLASSES, aux_weight=0.4,
                    aux_classifiers=[dict(type='InceptionAux',
                                          name='AuxLogits', in_channels=8)])
    logits = torch.randn(3, NUM_CLASSES)
    for a, b in zip(v3.predict((torch.rand(3, 8, 17, 17), logits)),
                    ClsHead().predict((logits, ))):
        torch.testing.assert_close(a.pred_score, b.pred_score)
    # Inference needs no taps: a tap-less backbone predicts the same.
    torch.testing.assert_close(head(feats[-1:]), head(feats))


def test_label_smoothing_and_mixup_soft_targets():
    """The recipe's loss (label smoothing 0.1) on Mixup's soft scores, for
    the main and the auxiliary classifiers alike."""
    backbone, _ = tiny_setup()
    head = googlenet_head(
        in_channels=32, channels=(24, 24), adaptive_pool=True, dropout=0.0,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original'))
    feats = backbone.train()(torch.rand(2, 3, 32, 32))
    scores = torch.tensor([[0.7, 0.3, 0, 0, 0], [0, 0, 0.3, 0.7, 0]])
    data = [DataSample().set_gt_score(s) for s in scores]
    losses = head.loss(feats, data)
    smooth = scores * 0.9 + 0.1 / NUM_CLASSES  # mode 'original'

    def expected(logits):
        return -(smooth * logits.log_softmax(1)).sum(1).mean()

    torch.testing.assert_close(losses['loss'], expected(head(feats)))
    for name, logits in zip(head.aux_names, head.forward_aux(feats)):
        torch.testing.assert_close(losses[f'loss_{name}'],
                                   0.3 * expected(logits))
    assert isinstance(head.loss_module, LabelSmoothLoss)


def test_errors_name_the_problem():
    backbone, head = tiny_setup()
    feats = backbone.eval()(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r'needs 2 tapped maps first .*got 1'):
        head.loss(feats[-1:], samples([0]))
    wrong = googlenet_head(in_channels=32, channels=(24, 16),
                           adaptive_pool=True)
    with pytest.raises(ValueError, match="'aux2' reads \\(N, 16, H, W\\)"):
        wrong.forward_aux(feats)
    with pytest.raises(ValueError, match='needs a 14-16 px map'):
        GoogLeNetAux(512, 10)(torch.rand(1, 512, 13, 13))
    GoogLeNetAux(512, 10)(torch.rand(1, 512, 16, 16))  # the largest
    with pytest.raises(ValueError, match='at least 17x17'):
        InceptionAux(768, 10)(torch.rand(1, 768, 16, 16))


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(aux_classifiers=[]), TypeError, 'non-empty list'),
    (dict(aux_classifiers=dict(type='GoogLeNetAux')), TypeError,
     'non-empty list'),
    (dict(aux_classifiers=[dict(type='GoogLeNetAux', in_channels=8)]),
     ValueError, 'needs a name'),
    (dict(aux_classifiers=[dict(type='GoogLeNetAux', name='fc',
                                in_channels=8)]), ValueError, 'is taken'),
    (dict(aux_classifiers=[dict(type='GoogLeNetAux', name='a', in_channels=8),
                           dict(type='GoogLeNetAux', name='a',
                                in_channels=8)]), ValueError, 'is taken'),
    (dict(aux_classifiers=[dict(type='GoogLeNetAux', name='a', in_channels=8,
                                num_classes=3)]), ValueError, 'predicts 3'),
    (dict(aux_weight=(0.3, )), ValueError, 'one per auxiliary classifier'),
    (dict(aux_weight=-1), ValueError, 'non-negative'),
    (dict(in_channels=0), ValueError, 'in_channels must be a positive'),
    (dict(num_classes=0), ValueError, 'num_classes must be a positive'),
    (dict(dropout=1), ValueError, r'dropout must be in \[0, 1\)'),
])
def test_bad_arguments(kwargs, error, match):
    cfg = dict(num_classes=NUM_CLASSES, in_channels=8, aux_weight=0.3,
               aux_classifiers=[
                   dict(type='GoogLeNetAux', name='aux1', in_channels=8),
                   dict(type='GoogLeNetAux', name='aux2', in_channels=8)
               ])
    cfg.update(kwargs)
    with pytest.raises(error, match=match):
        AuxClsHead(**cfg)


def tapped(model, names):
    """Record the outputs of ``model``'s named modules on every forward."""
    maps = {}
    for name in names:
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: maps.__setitem__(name, o))
    return maps


def relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def test_torchvision_googlenet_aux_weights_convert_into_the_head():
    # transform_input off: the data preprocessor normalises our input, so
    # the same x must reach both networks. No dropout, to compare in
    # training mode too.
    ref = randomize_bn(torchvision.models.googlenet(
        num_classes=NUM_CLASSES, aux_logits=True, transform_input=False,
        init_weights=True, dropout=0.0, dropout_aux=0.0))
    backbone = GoogLeNet(aux_taps=('inception4a', 'inception4d'))
    head = googlenet_head(adaptive_pool=True, dropout=0.0)
    sd = ref.state_dict()
    backbone.load_state_dict(convert_state_dict(sd, 'torchvision', backbone))
    head.load_state_dict(convert_state_dict(sd, 'torchvision', head),
                         strict=True)
    maps = tapped(ref, ('inception4a', 'inception4d'))
    x = torch.rand(2, 3, 96, 96)  # 6x6 maps: the adaptive pool averages
    ref.eval(), backbone.eval(), head.eval()
    with torch.no_grad():
        logits = ref(x)
        expected = [logits, ref.aux1(maps['inception4a']),
                    ref.aux2(maps['inception4d'])]
        feats = backbone(x)
        ours = [head(feats), *head.forward_aux(feats)]
    for a, b in zip(ours, expected):
        assert relative_error(a, b) <= 1e-5
    # Training mode: torchvision returns (logits, aux2, aux1).
    ref.train(), backbone.train(), head.train()
    out = ref(x)
    feats = backbone(x)
    aux1, aux2 = head.forward_aux(feats)
    for a, b in ((head(feats), out.logits), (aux1, out.aux_logits1),
                 (aux2, out.aux_logits2)):
        assert relative_error(a, b) <= 1e-5


def test_torchvision_inception_v3_aux_weights_convert_into_the_head():
    ref = randomize_bn(torchvision.models.inception_v3(
        num_classes=NUM_CLASSES, aux_logits=True, transform_input=False,
        init_weights=True, dropout=0.0)).eval()
    backbone = InceptionV3(num_classes=NUM_CLASSES, dropout=0.0,
                           aux_taps=('Mixed_6e', )).eval()
    head = AuxClsHead(num_classes=NUM_CLASSES, aux_weight=0.4,
                      aux_classifiers=[dict(type='InceptionAux',
                                            name='AuxLogits',
                                            in_channels=768)]).eval()
    sd = ref.state_dict()
    # The backbone has no AuxLogits: its converter drops them...
    backbone.load_state_dict(convert_state_dict(sd, 'torchvision', backbone))
    # ...and the head's takes them (and nothing else: fc is the backbone's).
    converted = convert_state_dict(sd, 'torchvision', head)
    assert converted and all(k.startswith('AuxLogits.') for k in converted)
    head.load_state_dict(converted, strict=True)
    maps = tapped(ref, ('Mixed_6e', ))
    x = torch.rand(1, 3, 299, 299)  # the smallest the aux classifier takes
    with torch.no_grad():
        logits = ref(x)
        aux_ref = ref.AuxLogits(maps['Mixed_6e'])
        feats = backbone(x)
        aux, = head.forward_aux(feats)
    assert relative_error(head(feats), logits) <= 1e-5
    assert relative_error(aux, aux_ref) <= 1e-5


def test_mmpretrain_aux_logits_convert_into_the_head():
    """mmpretrain keeps AuxLogits in its backbone: its classifier
    checkpoint's ``backbone.AuxLogits.*`` keys go to ``head.AuxLogits``
    through the head's converter (and load into our backbone as they are
    with ``aux_logits=True``: test_inception_v3.py)."""
    ref = randomize_bn(MMPretrainInceptionV3(num_classes=NUM_CLASSES,
                                             aux_logits=True))
    ref.eval()  # mmpretrain's train() returns None, so no chaining
    checkpoint = {'state_dict': {f'backbone.{k}': v
                                 for k, v in ref.state_dict().items()}}
    head = AuxClsHead(num_classes=NUM_CLASSES, aux_weight=0.4,
                      aux_classifiers=[dict(type='InceptionAux',
                                            name='AuxLogits',
                                            in_channels=768)]).eval()
    head.load_state_dict(convert_state_dict(checkpoint, 'mmpretrain', head),
                         strict=True)
    x = torch.rand(2, 768, 17, 17)
    with torch.no_grad():
        torch.testing.assert_close(head.AuxLogits(x), ref.AuxLogits(x))
    with pytest.raises(ValueError, match='do not fit'):
        convert_state_dict({'fc.weight': torch.zeros(1)}, 'mmpretrain', head)


def meta_keys(**model):
    with torch.device('meta'):
        return set(ImageClassifier(**model).state_dict())


def test_checkpoints_of_the_former_recipes_still_load():
    """The recipes before the aux heads (GoogLeNet: GAP neck and a
    LinearClsHead; Inception v3: a ClsHead) have no key that the new
    models lack: only the auxiliary classifiers are new."""
    old = meta_keys(backbone=dict(type='mmbackbones.GoogLeNet'),
                    neck=dict(type='GlobalAveragePooling'),
                    head=dict(type='LinearClsHead', num_classes=1000,
                              in_channels=1024))
    new = meta_keys(backbone=dict(type='mmbackbones.GoogLeNet',
                                  aux_taps=('inception4a', 'inception4d')),
                    head=googlenet_head(num_classes=1000))
    assert old < new
    assert {k.split('.')[1] for k in new - old} == {'aux1', 'aux2'}
    v3 = dict(type='mmbackbones.InceptionV3', num_classes=1000)
    old = meta_keys(backbone=v3, head=dict(type='ClsHead'))
    new = meta_keys(backbone=dict(v3, aux_taps=('Mixed_6e', )),
                    head=AuxClsHead(num_classes=1000, aux_weight=0.4,
                                    aux_classifiers=[dict(
                                        type='InceptionAux',
                                        name='AuxLogits', in_channels=768)]))
    assert old < new
    assert {k.split('.')[1] for k in new - old} == {'AuxLogits'}


# The smallest inputs the recipes' auxiliary classifiers take: GoogLeNet's
# paper pool needs a 14 px inception4a (223 px: 222 gives 13), Inception
# v3's a 17 px Mixed_6e (299 px).
RECIPES = [('googlenet.py', 223, 'inception4a', 'inception4b'),
           ('inception_v3.py', 299, 'Mixed_6e', 'Mixed_7a')]


@pytest.mark.parametrize('config, size, tapped_block, later_block', RECIPES)
def test_recipe_trains_one_iteration_with_aux(config, size, tapped_block,
                                              later_block):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
    init_default_scope('mmbackbones')
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    model.init_weights()
    head, backbone = model.head, model.backbone
    assert isinstance(head, AuxClsHead) and model.neck is None
    # The head's classifiers read what the backbone's taps give.
    taps = [i for i in backbone.feature_info if 'tap' in i]
    assert [getattr(head, n).in_channels for n in head.aux_names] == [
        i['channels'] for i in taps]
    data = dict(inputs=[torch.randint(0, 256, (3, size, size),
                                      dtype=torch.uint8) for _ in range(2)],
                data_samples=samples([3, 7]))
    model.train()
    batch = model.data_preprocessor(data, training=True)
    assert 'gt_score' in batch['data_samples'][0]  # Mixup ran
    losses = model(**batch, mode='loss')
    aux_keys = [f'loss_{n}' for n in head.aux_names]
    assert sorted(losses) == sorted(['loss', *aux_keys])
    # The first auxiliary loss alone reaches its tapped block, not later.
    losses[aux_keys[0]].backward(retain_graph=True)
    grads = [p.grad for p in getattr(backbone, tapped_block).parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    assert all(p.grad is None
               for p in getattr(backbone, later_block).parameters())
    # One optimisation step on the total loss.
    model.zero_grad()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    before = [p.detach().clone() for p in head.parameters()]
    total, log_vars = model.parse_losses(losses)
    optim.update_params(total)
    assert set(aux_keys) <= set(log_vars) and torch.isfinite(total)
    assert any(not torch.equal(a, p) for a, p in zip(before,
                                                     head.parameters()))
    model.eval()
    with torch.no_grad():
        preds = model(batch['inputs'], mode='predict')
    assert preds[0].pred_score.shape == (1000, )


def test_paper_pool_needs_223_px_and_differs_from_torchvisions():
    """The recipe's paper pool: inception4a is 13 px at 222 px input (too
    small for the 4x4 grid), 14 px at 223; at 14 px the paper's 5x5/3
    windows are not torchvision's adaptive ones, so its weights need
    ``adaptive_pool=True`` to give its outputs."""
    backbone = GoogLeNet(aux_taps=('inception4a', )).eval()
    with torch.no_grad():
        sizes = [backbone(torch.rand(1, 3, s, s))[0].shape[-1]
                 for s in (222, 223)]
    assert sizes == [13, 14]
    paper = GoogLeNetAux(16, 10, dropout=0.0).eval()
    adaptive = GoogLeNetAux(16, 10, dropout=0.0, adaptive_pool=True).eval()
    adaptive.load_state_dict(paper.state_dict())
    x = torch.rand(2, 16, 14, 14)
    with torch.no_grad():
        assert not torch.allclose(paper(x), adaptive(x))
        torch.testing.assert_close(paper.pool(x), F.avg_pool2d(x, 5, 3))
