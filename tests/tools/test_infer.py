"""tools/infer.py: top-k classes with scores, class names from the
checkpoint (the demo's digits), ImageNet's for a 1000-class head; bad input
is exit status 2 with one line; README's "Pick a model" commands run."""
import glob
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from conftest import (REPO_ROOT, readme_blocks, readme_commands,
                      run_readme_command)
from PIL import Image

from mmbackbones.cli import infer
from mmbackbones.cli.common import EXIT_BAD_INPUT, call_tool


@pytest.fixture(scope='module')
def demo(demo_run):
    work_dir, digits_root = demo_run
    images = [sorted(glob.glob(osp.join(digits_root, 'val', d, '*.png')))[0]
              for d in ('3', '7')]
    return osp.join(work_dir, 'epoch_2.pth'), images, digits_root, work_dir


@pytest.fixture(scope='module')
def torchvision_resnet18(tmp_path_factory):
    """Random torchvision ResNet-18 weights and a random JPEG."""
    import torchvision
    folder = tmp_path_factory.mktemp('tv')
    torch.save(torchvision.models.resnet18().state_dict(),
               str(folder / 'resnet18_torchvision.pth'))
    pixels = np.random.default_rng(0).integers(0, 255, (48, 64, 3),
                                               dtype=np.uint8)
    Image.fromarray(pixels).save(str(folder / 'cat.jpg'))
    return folder


def test_demo_digits_top_k(demo, capsys):
    checkpoint, images, _, _ = demo
    results = infer.main(['shufflenet_v2_digits', checkpoint, *images,
                          '--topk', '3'])
    out = capsys.readouterr().out
    assert len(results) == 2
    for image, top in zip(images, results):
        assert len(top) == 3
        names = [name for name, _ in top]
        assert set(names) <= {str(i) for i in range(10)}  # folder names
        scores = [score for _, score in top]
        assert scores == sorted(scores, reverse=True)
        assert 0 < sum(scores) <= 1 + 1e-6
        assert image in out
        assert re.search(rf'  1\. {names[0]}\s+{scores[0]:.4f}', out)


def test_imagenet_names_for_a_1000_class_head(torchvision_resnet18):
    folder = torchvision_resnet18
    [top] = infer.main(['resnet18', str(folder / 'resnet18_torchvision.pth'),
                        str(folder / 'cat.jpg'), '--source', 'torchvision',
                        '--topk', '2'])
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    assert all(name in IMAGENET_CATEGORIES for name, _ in top)
    model = torch.nn.Module()
    model.head = torch.nn.Module()
    model.head.num_classes = 1000
    assert infer.class_names(model) == list(IMAGENET_CATEGORIES)
    model.head.num_classes = 4
    assert infer.class_names(model) == [f'class {i}' for i in range(4)]


@pytest.mark.parametrize('args, message', [
    (['{image}', '--topk', '0'], '--topk must be at least 1, got 0'),
    (['{image}', '--topk', '11'], "--topk 11 is more than the model's 10 "
     'classes'),
    (['nope.png'], 'image not found: nope.png'),
    (['{checkpoint}'], 'cannot read image'),
    (['{image}', '--device', 'gpu0'], '--device must be cpu, cuda'),
])
def test_bad_input_is_exit_2_and_one_line(demo, args, message, capsys):
    checkpoint, images, _, _ = demo
    args = [a.format(image=images[0], checkpoint=checkpoint) for a in args]
    code = call_tool(infer.main, ['shufflenet_v2_digits', checkpoint, *args],
                     prog='infer.py')
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_BAD_INPUT
    assert len(err) == 1 and err[0].startswith('infer.py: error: '), err
    assert message in err[0], err[0]


def test_readme_pick_a_model(demo, torchvision_resnet18, tmp_path,
                             monkeypatch, capsys):
    """README's "Pick a model" Python block and tools/infer.py commands, run
    as written from a folder laid out like the user's repo root (configs,
    the demo's work dir and data, a torchvision checkpoint and an image; the
    demo checkpoint is that of a 2-epoch run)."""
    checkpoint, _, digits_root, work_dir = demo
    folder = torchvision_resnet18
    os.makedirs(tmp_path / 'work_dirs')
    os.makedirs(tmp_path / 'data')
    os.symlink(work_dir, tmp_path / 'work_dirs' / 'shufflenet_v2_digits')
    os.symlink(digits_root, tmp_path / 'data' / 'digits')
    os.symlink(osp.join(REPO_ROOT, 'configs'), tmp_path / 'configs')
    for name in ('resnet18_torchvision.pth', 'cat.jpg'):
        os.symlink(folder / name, tmp_path / name)
    [block] = readme_blocks('Pick a model', 'python')
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, 'README.md', 'exec'), namespace)
    assert capsys.readouterr().out.startswith("['resnet101'")
    assert namespace['model'].head.num_classes == 10
    assert len(namespace['backbone'].feature_info) == 4
    commands = readme_commands('Pick a model')
    assert len(commands) == 2
    for command in commands:
        out = run_readme_command(command.replace('epoch_20.pth',
                                                 'epoch_2.pth'),
                                 str(tmp_path), monkeypatch, capsys)
        assert re.search(r'^  1\. .+  0\.\d{4}$', out, flags=re.M), out
