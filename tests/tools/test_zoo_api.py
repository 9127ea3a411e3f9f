"""mmbackbones.list_models / get_model / model_config: names from the config
files, models built from their recipes, foreign weights converted (the
reference's logits reproduced), and mmpretrain's own get_model and
ImageClassificationInferencer on our config with a Runner checkpoint."""
import glob
import json
import os.path as osp
import re
import textwrap

import pytest
import torch
from backbone_checks import randomize_bn
from conftest import REPO_ROOT, run_tool

import mmbackbones
from mmbackbones import zoo
from mmbackbones.engine.checkpoint import CheckpointError

CONFIG_DIR = osp.realpath(osp.join(REPO_ROOT, 'configs'))
ALL_CONFIGS = sorted(
    osp.realpath(p)
    for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if '_base_' not in p and not osp.basename(p).startswith('_'))
RECIPES = [p for p in ALL_CONFIGS if osp.dirname(p) == CONFIG_DIR]


def test_one_unique_name_per_config():
    names = mmbackbones.list_models()
    assert len(names) == len(set(names)) == len(ALL_CONFIGS)
    paths = sorted(osp.realpath(mmbackbones.model_config(n)) for n in names)
    assert paths == ALL_CONFIGS  # every config has exactly one name
    for name in names:
        assert name == name.lower() and '-' not in name, name
    # the examples, the family recipes by their default variant,
    # the demo
    for name, path in [('resnet50', 'resnet.py'),
                       ('resnet50_v1d', 'resnet/resnet50_v1d.py'),
                       ('efficientnet_b0', 'efficientnet.py'),
                       ('efficientnet_b3', 'efficientnet/efficientnet_b3.py'),
                       ('hrnet_w18', 'hrnet.py'), ('repvgg_a0', 'repvgg.py'),
                       ('shufflenet_v2_digits',
                        'demo/shufflenet_v2_digits.py')]:
        assert osp.realpath(mmbackbones.model_config(name)) == \
            osp.join(CONFIG_DIR, path)


def test_pattern_is_fnmatch():
    resnets = mmbackbones.list_models('resnet*')
    assert 'resnet50' in resnets and 'resnet152_v1d' in resnets
    assert all(n.startswith('resnet') for n in resnets)
    assert mmbackbones.list_models('*_v1d') == [
        'resnet101_v1d', 'resnet152_v1d', 'resnet50_v1d']
    assert mmbackbones.list_models('no_such_*') == []
    with pytest.raises(TypeError, match='pattern'):
        mmbackbones.list_models(3)


def test_names_come_from_the_files(tmp_path):
    """A variant file is its name (lowercase, '-' -> '_'); a recipe needs
    its default_variant line; two configs of one name are refused."""
    (tmp_path / 'fam').mkdir()
    (tmp_path / 'fam' / 'Fam-B2.py').write_text('x = 1\n')
    (tmp_path / 'fam.py').write_text("default_variant = 'fam_b0'\n")
    assert sorted(zoo._registry(str(tmp_path))) == ['fam_b0', 'fam_b2']
    (tmp_path / 'fam' / 'fam_b0.py').write_text('x = 1\n')
    with pytest.raises(ValueError, match="two configs have the model name "
                       "'fam_b0'"):
        zoo._registry(str(tmp_path))
    (tmp_path / 'fam' / 'fam_b0.py').unlink()
    (tmp_path / 'fam.py').write_text('x = 1\n')
    with pytest.raises(ValueError, match='no module-level default_variant'):
        zoo._registry(str(tmp_path))


def test_unknown_name_gets_the_closest_names():
    with pytest.raises(ValueError) as err:
        mmbackbones.get_model('resnet51')
    assert "unknown model name 'resnet51'" in str(err.value)
    assert "'resnet50'" in str(err.value)
    with pytest.raises(ValueError, match="'efficientnet_b3'"):
        mmbackbones.model_config('efficientnet-b3x')
    with pytest.raises(ValueError, match=r"unknown model key\(s\) \['hed'\]"):
        mmbackbones.get_model('resnet18', hed=dict(num_classes=3))
    with pytest.raises(ValueError, match='config file not found: x/y.py'):
        mmbackbones.get_model('x/y.py')
    with pytest.raises(ValueError, match='pass weights='):
        mmbackbones.get_model('resnet18', source='torchvision')


@pytest.mark.parametrize('path', RECIPES, ids=osp.basename)
def test_every_family_default_builds_on_meta(path):
    name = zoo._recipe_name(path)
    with torch.device('meta'):
        model = mmbackbones.get_model(name)
    assert type(model).__name__ == 'ImageClassifier'
    assert all(p.is_meta for p in model.parameters())
    assert zoo.num_classes(model) == 1000
    assert not model.training


def test_overrides_backbone_only_and_class_names():
    model = mmbackbones.get_model('resnet18', head=dict(num_classes=10))
    assert model(torch.rand(1, 3, 32, 32), mode='tensor').shape == (1, 10)
    assert model.dataset_meta == {}  # ImageNet's 1000 names do not apply
    model = mmbackbones.get_model('resnet18')
    assert len(model.dataset_meta['classes']) == 1000  # ImageNet's METAINFO
    backbone = mmbackbones.get_model(
        'resnet18', backbone_only=True, backbone=dict(out_indices=(0, 3)))
    shapes = [tuple(f.shape) for f in backbone(torch.rand(1, 3, 32, 32))]
    assert shapes == [(1, 64, 8, 8), (1, 512, 1, 1)]
    with torch.device('meta'):
        deploy = mmbackbones.get_model(
            mmbackbones.list_models('repvgg_a0_*')[0])
    assert deploy.backbone.deploy


@pytest.mark.parametrize('source', ['torchvision', 'timm'])
def test_foreign_weights_reproduce_the_reference(source, tmp_path):
    if source == 'torchvision':
        import torchvision
        reference = torchvision.models.resnet18()
    else:
        timm = pytest.importorskip('timm')
        reference = timm.create_model('resnet18', pretrained=False)
    randomize_bn(reference).eval()
    path = str(tmp_path / f'{source}_resnet18.pth')
    torch.save(reference.state_dict(), path)
    model = mmbackbones.get_model('resnet18', weights=path, source=source)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        ours, theirs = model(x, mode='tensor'), reference(x)
        features = model.extract_feat(x)[-1]
        their_features = reference.forward_head(
            reference.forward_features(x), pre_logits=True) \
            if source == 'timm' else torch.flatten(
                reference.avgpool(torch.nn.Sequential(
                    *list(reference.children())[:-2])(x)), 1)
    # the head too: the classifier layer is found by shape
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(features, their_features, rtol=1e-5,
                               atol=1e-5)
    # our layout without source= is refused, naming source=
    with pytest.raises(ValueError, match="source='torchvision'"):
        mmbackbones.get_model('resnet18', weights=path)
    # weights of another architecture: the mismatched keys
    with pytest.raises(ValueError, match='missing'):
        mmbackbones.get_model('resnet34', weights=path, source=source)


def test_our_checkpoint_loads_strictly_and_safely(tmp_path):
    model = mmbackbones.get_model('resnet18', head=dict(num_classes=3))
    path = str(tmp_path / 'ours.pth')
    classes = ['cat', 'dog', 'eel']
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes))), path)
    loaded = mmbackbones.get_model('resnet18', weights=path,
                                   head=dict(num_classes=3))
    assert loaded.dataset_meta['classes'] == classes
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, mode='tensor'),
                                   model(x, mode='tensor'))
    backbone = mmbackbones.get_model('resnet18', weights=path,
                                     backbone_only=True)
    torch.testing.assert_close(backbone.state_dict()['conv1.weight'],
                               model.state_dict()['backbone.conv1.weight'])
    with pytest.raises(ValueError, match='head.fc.weight') as err:
        mmbackbones.get_model('resnet18', weights=path)  # 3 vs 1000 classes
    assert 'Only the head differs' in str(err.value)
    unsafe = str(tmp_path / 'unsafe.pth')
    torch.save(dict(state_dict=model.state_dict(), hook=print), unsafe)
    with pytest.raises(CheckpointError, match='refusing to load'):
        mmbackbones.get_model('resnet18', weights=unsafe,
                              head=dict(num_classes=3))


MMPRETRAIN_APIS = textwrap.dedent("""
    import json, sys
    from mmpretrain import ImageClassificationInferencer, get_model
    config, checkpoint, image = sys.argv[1:]
    # no `import mmbackbones`: the config's imports bring it
    model = get_model(config, pretrained=checkpoint)
    inferencer = ImageClassificationInferencer(config, pretrained=checkpoint)
    result = inferencer(image)[0]
    classes = list(model._dataset_meta['classes'])
    print('RESULT', json.dumps(dict(
        classes=classes, label=int(result['pred_label']),
        name=result['pred_class'], score=float(result['pred_score']))))
""")


def test_mmpretrain_get_model_and_inferencer_take_our_config(demo_run):
    """A Runner checkpoint of the demo (HistoryBuffer and NumPy objects
    inside, read weights_only) through mmpretrain's APIs; the inferencer's
    top-1 is tools/infer.py's."""
    from mmbackbones.cli import infer
    work_dir, digits_root = demo_run
    checkpoint = osp.join(work_dir, 'epoch_2.pth')
    image = sorted(glob.glob(osp.join(digits_root, 'val', '3', '*.png')))[0]
    config = mmbackbones.model_config('shufflenet_v2_digits')
    result = run_tool(['-c', MMPRETRAIN_APIS, config, checkpoint, image])
    assert result.returncode == 0, result.stderr[-3000:]
    # (the inferencer's progress bar ends without a newline)
    got = json.loads(re.search(r'RESULT (\{.*\})', result.stdout).group(1))
    assert got['classes'] == [str(i) for i in range(10)]  # the folders
    [[(name, score)]] = infer.main(['shufflenet_v2_digits', checkpoint,
                                    image, '--topk', '1'])
    assert (got['name'], str(got['label'])) == (name, name)
    assert abs(got['score'] - score) < 1e-5
