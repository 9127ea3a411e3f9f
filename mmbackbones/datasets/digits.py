"""The handwritten digits that scikit-learn ships, as an image folder.

1,797 grey 8x8 images in 10 classes (UCI optdigits test set). They are
upscaled to RGB PNGs and written once, with a fixed train/val split, as

    <root>/train/<class>/<index>.png
    <root>/val/<class>/<index>.png

which mmpretrain's ``CustomDataset`` reads like any image folder.
"""
import os
import os.path as osp
import shutil
import tempfile

import numpy as np

#: Every 5th image (by index within its class) is held out for validation.
VAL_EVERY = 5


def prepare_digits(data_root: str, size: int = 32) -> str:
    """Write the digits dataset under ``data_root`` unless it is there.

    Written into a temporary folder and renamed into place, so an
    interrupted first run never leaves a half-written dataset.

    Returns:
        ``data_root``.
    """
    if osp.isdir(osp.join(data_root, 'train')) and osp.isdir(
            osp.join(data_root, 'val')):
        return data_root
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError('the digits demo needs scikit-learn: pip install '
                          'scikit-learn') from None
    from PIL import Image

    digits = load_digits()
    parent = osp.dirname(osp.abspath(data_root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix='.digits-')
    try:
        seen = np.zeros(10, dtype=int)
        for index, (image, label) in enumerate(
                zip(digits.images, digits.target)):
            split = 'val' if seen[label] % VAL_EVERY == 0 else 'train'
            seen[label] += 1
            folder = osp.join(tmp, split, str(label))
            os.makedirs(folder, exist_ok=True)
            grey = (image * (255.0 / 16.0)).round().astype(np.uint8)
            picture = Image.fromarray(grey, mode='L').resize(
                (size, size), Image.BILINEAR).convert('RGB')
            picture.save(osp.join(folder, f'{index:04d}.png'))
        if osp.exists(data_root):
            shutil.rmtree(data_root)
        os.replace(tmp, data_root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return data_root


_PREPARERS = {'sklearn_digits': prepare_digits}


def prepare_data(spec: dict) -> None:
    """Run a config's ``prepare_data = dict(type=..., data_root=...)``."""
    spec = dict(spec)
    kind = spec.pop('type', None)
    if kind not in _PREPARERS:
        raise ValueError(f'prepare_data type must be one of '
                         f'{list(_PREPARERS)}, but got {kind!r}')
    _PREPARERS[kind](**spec)
