"""Recognise a checkpoint's key layout and fit it to one of our backbones.

Used by ``init_cfg=dict(type='Pretrained', ...)`` of every backbone
(:meth:`mmbackbones.models.base.BaseBackbone.init_weights`): the file may
hold our (= mmpretrain's) names, or those of mmdet/mmseg/mmcv
(``open-mmlab://`` weights), torchvision or timm -- whichever registered
converter makes *every* parameter and buffer of the backbone fit is used.
A checkpoint that fits in no layout is a ValueError listing what would stay
uninitialised, never a partial load with a warning.
"""
from collections import OrderedDict
from typing import Dict, Iterator, List, Mapping, Tuple

import torch
import torch.nn as nn

from .base import SOURCES, _CONVERTERS, take_prefix, unwrap_state_dict

#: Buffers a checkpoint may lack without anything being uninitialised
#: (BatchNorm's step counter; torchvision's and old mmcv files have none).
OPTIONAL_SUFFIXES = ('num_batches_tracked', )


def unfilled(candidate: Mapping[str, torch.Tensor],
             expected: Mapping[str, torch.Tensor]) -> List[str]:
    """Our keys that ``candidate`` leaves missing or gives another shape."""
    problems = []
    for key, value in expected.items():
        if key.endswith(OPTIONAL_SUFFIXES) and key not in candidate:
            continue
        if key not in candidate:
            problems.append(f'{key} (missing)')
        elif candidate[key].shape != value.shape:
            problems.append(f'{key} ({tuple(candidate[key].shape)} in the '
                            f'checkpoint, {tuple(value.shape)} here)')
    return problems


def fit_state_dict(checkpoint: Mapping, backbone: nn.Module,
                   name: str = 'the checkpoint'
                   ) -> Tuple[Dict[str, torch.Tensor], str]:
    """``(state_dict, layout)`` of ``checkpoint`` in ``backbone``'s names.

    Tries the keys as saved (also under ``backbone.``), then each source
    with a converter for this backbone type (mmdet, torchvision, timm...).
    Keys that are not the backbone's (a classifier's ``fc.``/``head.``, a
    detector's ``neck.``/``bbox_head.``) are ignored.

    Raises:
        ValueError: no layout fills every parameter and buffer; lists the
            unfilled keys of the closest layout.

    Example:
        >>> from mmbackbones.models import ResNet
        >>> ours = ResNet(depth=18)
        >>> sd, layout = fit_state_dict(ours.state_dict(), ours)
        >>> layout, len(sd) == len(ours.state_dict())
        ('as saved', True)
    """
    state = unwrap_state_dict(checkpoint)
    expected = backbone.state_dict()
    type_name = type(backbone).__name__
    def candidates() -> Iterator[Tuple[str, Mapping[str, torch.Tensor]]]:
        # Lazily: most files are in our layout, and a converter given keys
        # of another source may fail outright (then it is not that source).
        yield 'as saved', take_prefix(state, 'backbone.')
        for source in SOURCES:
            converter = _CONVERTERS.get((type_name, source))
            if converter is None:
                continue
            try:
                yield source, converter(state, backbone)
            except (KeyError, ValueError, IndexError, AttributeError,
                    RuntimeError):
                continue

    best, tried = None, []
    for layout, candidate in candidates():
        tried.append(layout)
        problems = unfilled(candidate, expected)
        if not problems:
            fitted = OrderedDict(
                (k, candidate[k]) for k in expected if k in candidate)
            return fitted, layout
        if best is None or len(problems) < len(best[1]):
            best = (layout, problems)
    layout, problems = best
    raise ValueError(
        f'{name} does not fit this {type_name}: {len(problems)} of its '
        f'{len(expected)} parameters and buffers would stay uninitialised '
        f'(closest layout: {layout}; tried {tried}): {problems[:10]}'
        f'{" ..." if len(problems) > 10 else ""}. Is it a checkpoint of '
        'another architecture? For a whole model saved under another key '
        "than 'backbone.', give init_cfg=dict(type='Pretrained', "
        "checkpoint=..., prefix='<that key>.').")
