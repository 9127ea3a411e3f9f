"""``python tools/infer.py CONFIG_OR_NAME CHECKPOINT IMAGE... [--topk 5]``.

Classifies images with a config (or a name of ``mmbackbones.list_models()``)
and a checkpoint, through the config's test pipeline and the model's data
preprocessor (what ``tools/test.py`` measures), and prints the top-k classes
with their scores (softmax probabilities) per image.

Class names, first found: the checkpoint's ``meta.dataset_meta`` (a Runner
checkpoint holds its training set's, e.g. the demo's digit folders), the
config's test dataset (``ImageNet`` declares its 1000), mmpretrain's
ImageNet names when the head has 1000 classes, else ``class <index>``.

Example:
    >>> main(['shufflenet_v2_digits', 'work_dirs/shufflenet_v2_digits/'
    ...       'epoch_20.pth', 'data/digits/val/3/0003.png', '--topk', '2'])
    data/digits/val/3/0003.png
      1. 3  0.9117
      2. 9  0.0162

(the output of the demo's 20-epoch checkpoint).
"""
import argparse
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from .common import (ArgumentParser, ToolError, add_config_argument,
                     check_checkpoint_arg, run_tool)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog='infer.py',
        description='Top-k classes of images with a config and checkpoint.')
    add_config_argument(parser, checkpoint='checkpoint file (ours or '
                        "mmpretrain's; others with --source)")
    parser.add_argument('images', nargs='+', metavar='IMAGE',
                        help='image files')
    parser.add_argument('--topk', type=int, default=5,
                        help='classes to print per image (default 5)')
    parser.add_argument('--source', default=None,
                        help='layout of a foreign checkpoint: torchvision, '
                        'timm, ... (converted as get_model(source=) does)')
    parser.add_argument('--device', default='cpu',
                        help='cpu (default), cuda, cuda:1, ...')
    return parser.parse_args(argv)


def class_names(model) -> List[str]:
    """One name per class of a model from :func:`mmbackbones.get_model`
    (its ``dataset_meta``: the checkpoint's, else the config's), else
    ImageNet's for 1000 classes, else ``class <index>``."""
    from mmbackbones.zoo import num_classes
    count = num_classes(model)
    classes = list((getattr(model, 'dataset_meta', None) or {}).get(
        'classes') or ())
    if not classes and count == 1000:
        from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
        classes = list(IMAGENET_CATEGORIES)
    if not classes and count:
        classes = [f'class {i}' for i in range(count)]
    return classes


def _check_args(args) -> None:
    if args.topk < 1:
        raise ToolError(f'--topk must be at least 1, got {args.topk}')
    missing = [p for p in args.images if not osp.isfile(p)]
    if missing:
        raise ToolError(f'image not found: {", ".join(missing)}')
    check_checkpoint_arg(args.checkpoint, 'CHECKPOINT')
    import torch
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ToolError(f'--device must be cpu, cuda or cuda:N, got '
                        f'{args.device!r}') from None
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ToolError(f'--device {args.device}: CUDA is not available '
                        'here; use --device cpu')


def build(args):
    """The model (eval, on the device), its test pipeline and class
    names."""
    from mmengine.dataset import Compose

    from mmbackbones.zoo import get_model, load_model_config
    try:
        cfg = load_model_config(args.config)
        # train_cfg=None: no batch augments (Mixup) to set up for training.
        model = get_model(args.config, weights=args.checkpoint,
                          source=args.source, train_cfg=None)
    except ValueError as err:  # unknown name or source, weights misfit
        raise ToolError(str(err)) from None
    except SyntaxError as err:
        raise ToolError(f'cannot load config {args.config}: {err}') from None
    names = class_names(model)
    pipeline = (cfg.get('test_dataloader') or {}).get('dataset', {}).get(
        'pipeline')
    if not pipeline:
        raise ToolError(f'{args.config}: its test_dataloader.dataset has no '
                        'pipeline to prepare an image with')
    return model.to(args.device), Compose(pipeline), names


def predict(model, pipeline, names: List[str], image: str,
            topk: int) -> List[Tuple[str, float]]:
    """``[(class name, score), ...]``, the ``topk`` best, best first."""
    import torch
    from mmengine.dataset import pseudo_collate
    try:
        data = pipeline(dict(img_path=image))
    except Exception as err:  # a file that is not an image
        text = str(err).strip().splitlines()
        raise ToolError(f'cannot read image {image}: {type(err).__name__}'
                        + (f': {text[0]}' if text else '')) from None
    if data is None:
        raise ToolError(f'cannot read image {image}: the pipeline dropped it')
    with torch.no_grad():
        sample = model.test_step(pseudo_collate([data]))[0]
    scores = sample.pred_score.float().cpu()
    if topk > scores.numel():
        raise ToolError(f'--topk {topk} is more than the model\'s '
                        f'{scores.numel()} classes')
    values, indices = scores.topk(topk)
    return [(names[i] if i < len(names) else f'class {i}', float(v))
            for v, i in zip(values.tolist(), indices.tolist())]


def main(argv: Optional[Sequence[str]] = None) -> List[List[Tuple]]:
    args = parse_args(argv)
    _check_args(args)
    model, pipeline, names = build(args)
    if args.topk > len(names) > 0:
        raise ToolError(f'--topk {args.topk} is more than the model\'s '
                        f'{len(names)} classes')
    results = []
    for image in args.images:
        top = predict(model, pipeline, names, image, args.topk)
        width = max(len(name) for name, _ in top)
        print(image)
        for rank, (name, score) in enumerate(top, 1):
            print(f'  {rank}. {name:<{width}}  {score:.4f}')
        results.append(top)
    return results


def cli(argv: Optional[Sequence[str]] = None) -> None:
    run_tool(main, argv, prog='infer.py')
