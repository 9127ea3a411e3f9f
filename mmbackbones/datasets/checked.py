"""Datasets that fail with one message naming the file.

mmcv's ``LoadImageFromFile`` fails on a zero-byte file with OpenCV's
``!buf.empty()`` assertion (no path), and on a text file named ``.png`` or a
truncated image with ``failed to load image`` deep inside a DataLoader
worker's 50-line traceback. :class:`CheckedDataset` wraps any dataset and
turns a failure to prepare sample ``i`` into :class:`BadSampleError` naming
that sample's file; :func:`check_class_folders` refuses a folder-layout
dataset with an empty class folder (mmpretrain only logs a warning, and a
class list that differs between train and val shifts the labels silently).
"""
import os.path as osp
from os import walk as os_walk
from typing import Any, List, Optional, Sequence

from torch.utils.data import Dataset

from mmbackbones.utils import InputError


class DatasetError(InputError, ValueError):
    """A dataset that cannot be used as configured (the message says why):
    bad input, exit status 2 in every tool."""


class BadSampleError(InputError, RuntimeError):
    """A sample that cannot be loaded; the message names its file. Bad
    input (exit status 2); a tool prints the message's last line when a
    DataLoader worker re-raised it (``mmbackbones.cli.common.one_line``)."""


def _sample_file(dataset: Any, index: int) -> Optional[str]:
    try:
        info = dataset.get_data_info(index)
    except Exception:  # not an mmengine dataset, or a bad index
        return None
    if isinstance(info, dict):
        return info.get('img_path') or info.get('filename')
    return None


class CheckedDataset(Dataset):
    """``dataset`` whose failing samples raise :class:`BadSampleError`
    naming the file; everything else (``metainfo``, ``get_data_info``...)
    is the wrapped dataset's.

    Example:
        >>> checked = CheckedDataset(dataset)
        >>> checked[0]  # a zero-byte PNG
        BadSampleError: cannot load data/x/0/a.png (sample 0 of
        CustomDataset): error: (-215:Assertion failed) !buf.empty() ...
    """

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:
        if name == 'dataset':  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except Exception as err:
            path = _sample_file(self.dataset, index)
            if path is None:
                raise
            lines = str(err).strip().splitlines()
            detail = (lines[-1] if lines else '') or type(err).__name__
            if path in detail:  # 'failed to load image: PATH'
                detail = detail.replace(path, '').rstrip(': ')
            kind = 'is empty (0 bytes)' if osp.isfile(path) and \
                osp.getsize(path) == 0 else f'{type(err).__name__}: {detail}'
            raise BadSampleError(
                f'cannot load {path} (sample {index} of '
                f'{type(self.dataset).__name__}): {kind}; remove or replace '
                'the file') from None


def class_folders(dataset: Any) -> Optional[List[str]]:
    """The class folders of a folder-layout (``CustomDataset``-style, no
    ``ann_file``) dataset with labels, else None."""
    if getattr(dataset, 'ann_file', '') or not getattr(
            dataset, 'with_label', False):
        return None
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    return list(classes) if classes else None


def _has_image(folder: str, extensions: Sequence[str]) -> bool:
    for _, _, files in os_walk(folder, followlinks=True):
        if any(f.lower().endswith(tuple(extensions)) for f in files):
            return True
    return False


def check_class_folders(dataset: Any, name: str) -> Optional[List[str]]:
    """Refuse a folder-layout dataset with a class folder that holds no
    image. Returns the class folders (None for other layouts).

    Raises:
        DatasetError: names the empty class folder(s).
    """
    classes = class_folders(dataset)
    if classes is None:
        return None
    root = getattr(dataset, 'img_prefix', '') or ''
    if not osp.isdir(root):  # remote storage: not checked
        return classes
    # One directory walk per class, stopping at its first image: cheap
    # even for ImageNet's 1000 folders (no per-sample work).
    extensions = tuple(e.lower() for e in getattr(dataset, 'extensions', ()))
    if not extensions:
        return classes
    empty = [c for c in classes if not _has_image(osp.join(root, c),
                                                  extensions)]
    if empty:
        raise DatasetError(
            f'{name}: class folder(s) {", ".join(map(repr, empty[:5]))} '
            f'under {root} hold no image (extensions '
            f'{", ".join(getattr(dataset, "extensions", ()))}): add images '
            'or remove the folder, so class indices mean the same in every '
            'split')
    return classes


def check_same_classes(train: Sequence[str], other: Sequence[str],
                       name: str) -> None:
    """Refuse a split whose class folders differ from the training set's
    (labels are folder indices: a missing folder shifts all after it)."""
    if list(train) == list(other):
        return
    missing = [c for c in train if c not in other]
    extra = [c for c in other if c not in train]
    raise DatasetError(
        f'{name}: its class folders differ from train_dataloader\'s '
        f'(missing: {missing[:5]}, extra: {extra[:5]}): labels are folder '
        'indices, so every class after the first difference would get '
        'another label')
