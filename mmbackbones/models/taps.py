"""Extra outputs ("taps") read from inside a backbone's stages.

Auxiliary classifiers (GoogLeNet's on inception4a/4d, Inception v3's on
the 17x17 grid) read features that are not stage outputs, or not among the
``out_indices``. :class:`TapsMixin` lets a backbone return them without
disturbing the ``out_indices`` contract: the taps come *first*, in the order
they were added, then the ``out_indices`` outputs, and ``feature_info`` /
``out_channels`` / ``out_strides`` list them in the same order, in train and
eval mode alike. A backbone without taps returns exactly what
:class:`~mmbackbones.models.base.BaseBackbone` returns.

Why first: every mmpretrain head (``ClsHead.pre_logits``) and neck reads
the main feature as ``feats[-1]``, and mmpretrain's own ``InceptionV3``
returns ``(aux_logits, x)``; with the taps first, a head that knows nothing
about taps still classifies the right feature.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn

__all__ = ['TapsMixin', 'Tap']


class Tap(NamedTuple):
    """One extra output: the output of ``member`` (a module that is a
    member of one of the backbone's stages), passed through ``head`` if
    given (Inception v3's in-backbone ``AuxLogits``)."""
    name: str
    member: nn.Module
    channels: int
    head: Optional[nn.Module] = None


class TapsMixin:
    """Adds taps to a :class:`BaseBackbone` subclass (list it first among
    the bases). The subclass calls :meth:`add_tap` in ``__init__``; the
    stage each tap lies in (the one whose ``stage_modules()`` list holds
    the tapped module) gives the tap's ``index`` and ``stride`` in
    ``feature_info``, which also names it (``tap=name``). A stage is the
    base class's plain list of modules: a tapped stage runs as the parts
    before and after each tapped module, nothing else.

    Example:
        >>> from mmbackbones.models import GoogLeNet
        >>> model = GoogLeNet(aux_taps=('inception4a', 'inception4d'))
        >>> [(i['channels'], i['stride']) for i in model.feature_info]
        [(512, 16), (528, 16), (1024, 32)]
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 512, 4, 4), (1, 528, 4, 4), (1, 1024, 2, 2)]
    """

    def add_tap(self, name: str, member: nn.Module, channels: int,
                head: Optional[nn.Module] = None) -> None:
        if not hasattr(self, '_taps'):
            self._taps: List[Tap] = []
        self._taps.append(Tap(name, member, channels, head))

    @staticmethod
    def check_tap_names(aux_taps, valid: Sequence[str],
                        arg_name: str = 'aux_taps') -> Tuple[str, ...]:
        """``aux_taps`` as a tuple of valid, distinct names, or a
        TypeError/ValueError naming the argument and the valid names."""
        if isinstance(aux_taps, str) or not isinstance(aux_taps, Sequence):
            raise TypeError(f'{arg_name} must be a sequence of block names '
                            f'(e.g. ({valid[0]!r},)), but got {aux_taps!r}')
        unknown = [n for n in aux_taps if n not in valid]
        if unknown:
            raise ValueError(f'{arg_name} has unknown names {unknown}; valid '
                             f'names: {list(valid)}')
        if len(set(aux_taps)) != len(aux_taps):
            raise ValueError(f'{arg_name} {tuple(aux_taps)} names a block '
                             'twice')
        return tuple(aux_taps)

    @property
    def taps(self) -> Tuple[Tap, ...]:
        return tuple(getattr(self, '_taps', ()))

    def _tap_stages(self) -> Dict[str, int]:
        """The output index of the stage each tap reads from."""
        first = int(self.stem_is_output)
        found: Dict[str, int] = {}
        for i, stage in enumerate(self.stage_modules(), start=first):
            for tap in self.taps:
                if any(m is tap.member for m in stage):
                    found.setdefault(tap.name, i)
        missing = [t.name for t in self.taps if t.name not in found]
        if missing:
            raise RuntimeError(f'taps {missing} of {type(self).__name__} '
                               'read modules that are in no stage')
        return found

    # ----------------------------------------------------------------- #
    # Outputs as the base class describes them, taps first
    # ----------------------------------------------------------------- #
    @property
    def feature_info(self) -> List[dict]:
        stages = self._tap_stages()
        taps = [
            dict(index=stages[t.name], channels=t.channels,
                 stride=self.stage_strides[stages[t.name]], tap=t.name)
            for t in self.taps
        ]
        return taps + super().feature_info

    @property
    def out_channels(self) -> Tuple[int, ...]:
        return tuple(info['channels'] for info in self.feature_info)

    @property
    def out_strides(self) -> Tuple[int, ...]:
        return tuple(info['stride'] for info in self.feature_info)

    # ----------------------------------------------------------------- #
    # Forward
    # ----------------------------------------------------------------- #
    def _segments(self, stage: List[nn.Module]):
        """``stage`` cut after each tapped module: ``(part, taps)`` pairs,
        ``taps`` being the taps that read the part's last module."""
        part: List[nn.Module] = []
        for member in stage:
            part.append(member)
            read = [t for t in self.taps if t.member is member]
            if read:
                yield part, read
                part = []
        if part:
            yield part, []

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The taps (in :attr:`taps` order), then the ``out_indices``
        outputs; stages after the last one needed are not run."""
        self.check_input(x)
        tap_stages = self._tap_stages()
        first = int(self.stem_is_output)
        for module in self.stem_modules():
            x = module(x)
        outs = [x] if first and 0 in self.out_indices else []
        last = max([self.out_indices[-1], *tap_stages.values()])
        tapped: Dict[str, torch.Tensor] = {}
        for i, stage in enumerate(self.stage_modules()[:last + 1 - first],
                                  start=first):
            if i not in tap_stages.values():
                x = self.run_stage(stage, x)
            else:
                for part, read in self._segments(stage):
                    x = self.run_stage(part, x)
                    for tap in read:
                        tapped[tap.name] = (x if tap.head is None else
                                            tap.head(x))
            if i in self.out_indices:
                outs.append(x)
        return (*(tapped[t.name] for t in self.taps), *outs)
