"""A classification head with auxiliary classifiers ("deep supervision").

GoogLeNet (Szegedy et al. 2015, Sec. 5) adds two auxiliary classifiers, on
inception4a and 4d, whose losses are added to the main loss with weight
0.3 during training and which are discarded at inference. Inception v3
(Szegedy et al. 2016, Sec. 4, Fig. 8) keeps one, on the last 17x17 layer;
the paper gives no weight, Google's reference training code uses 0.4
(tensorflow/models ``research/slim/train_image_classifier.py`` and
``research/inception/inception/inception_model.py``: the ``aux_loss`` has
``weights=0.4``, with the main loss's label smoothing).

:class:`AuxClsHead` is mmpretrain's ``ClsHead`` with such classifiers: the
backbone returns the tapped maps first and the main feature last (our
backbones' ``aux_taps``); ``loss`` adds one weighted loss per auxiliary
classifier under its own key, ``predict`` and ``forward`` use the main
feature only.
"""
import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmpretrain.models.heads import ClsHead
from mmpretrain.structures import DataSample

from mmbackbones.registry import MODELS
from ..base import check_positive_int, check_rate

__all__ = ['AuxClsHead']

#: Linear layers as mmpretrain's LinearClsHead, convolutions as our
#: backbones' default.
AUX_HEAD_INIT_CFG = [
    dict(type='Normal', layer='Linear', std=0.01),
    dict(type='Kaiming', layer='Conv2d'),
]


@MODELS.register_module()
class AuxClsHead(ClsHead):
    """Main classifier plus auxiliary classifiers on tapped features.

    Inputs (``feats``): the backbone's outputs, the ``len(aux_classifiers)``
    tapped maps first (in the order of ``aux_classifiers``), the main
    feature last -- what a backbone built with ``aux_taps`` returns.

    Main branch: with ``in_channels`` the last feature is average-pooled
    (if it is a map), passed through dropout and a linear layer ``fc``
    (mmpretrain's ``LinearClsHead`` key, so its checkpoints load); with
    ``in_channels=None`` the last feature already is the logits (Inception
    v3 keeps its classifier in the backbone, as mmpretrain's).

    Training (``loss``): ``loss`` is the main loss as ``ClsHead``'s (with
    its accuracy under ``cal_acc``); each auxiliary classifier ``name``
    adds ``loss_<name>`` = its weight x the same loss module on its logits
    and the same targets (Mixup/CutMix soft targets included). mmengine
    sums every ``loss*`` key into the loss that is back-propagated.
    Inference (``forward``, ``predict``): the main logits only; the
    auxiliary classifiers are not run.

    Args:
        num_classes (int): Classes (main and auxiliary classifiers).
        aux_classifiers (Sequence[dict]): One config per auxiliary
            classifier, built from our registry with ``num_classes``; each
            has a ``name`` (its module name: checkpoint keys
            ``<name>.*``, loss key ``loss_<name>``), e.g.
            ``dict(type='GoogLeNetAux', name='aux1', in_channels=512)``.
        aux_weight (float | Sequence[float]): Weight of each auxiliary
            loss (one for all, or one per classifier). The papers': 0.3 for
            GoogLeNet (Sec. 5), 0.4 for Inception v3 (TF-slim's recipe).
        in_channels (int, optional): Channels of the main feature; None:
            the main feature is the logits.
        dropout (float): Dropout before ``fc``. Default 0.
        loss (dict): The loss, as ``ClsHead``'s.
        topk (int | Sequence[int]): Top-k accuracy, as ``ClsHead``'s.
        cal_acc (bool): Training accuracy of the main logits.
        init_cfg (dict | list[dict], optional): Default
            :data:`AUX_HEAD_INIT_CFG`.

    Example:
        >>> from mmbackbones.models import GoogLeNet
        >>> backbone = GoogLeNet(aux_taps=('inception4a', 'inception4d'))
        >>> head = AuxClsHead(
        ...     num_classes=10, in_channels=1024, aux_weight=0.3,
        ...     aux_classifiers=[
        ...         dict(type='GoogLeNetAux', name='aux1', in_channels=512),
        ...         dict(type='GoogLeNetAux', name='aux2', in_channels=528)])
        >>> feats = backbone(torch.rand(2, 3, 224, 224))
        >>> head(feats).shape, [a.shape for a in head.forward_aux(feats)]
        (torch.Size([2, 10]), [torch.Size([2, 10]), torch.Size([2, 10])])
    """

    def __init__(self,
                 num_classes: int,
                 aux_classifiers: Sequence[dict],
                 aux_weight: Union[float, Sequence[float]],
                 in_channels: Optional[int] = None,
                 dropout: float = 0.0,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(
            loss=loss, topk=topk, cal_acc=cal_acc,
            init_cfg=copy.deepcopy(AUX_HEAD_INIT_CFG)
            if init_cfg is None else init_cfg)
        check_positive_int('num_classes', num_classes)
        if in_channels is not None:  # None: the main feature is the logits
            check_positive_int('in_channels', in_channels)
        check_rate('dropout', dropout)
        self.num_classes = num_classes
        self.in_channels = in_channels
        if in_channels is not None:
            self.dropout = nn.Dropout(dropout)
            self.fc = nn.Linear(in_channels, num_classes)
        self.aux_names = self._build_aux(aux_classifiers)
        self.aux_weights = self._check_weights(aux_weight)

    def _build_aux(self, configs: Sequence[dict]) -> Tuple[str, ...]:
        if (isinstance(configs, (str, dict))
                or not isinstance(configs, Sequence) or not configs
                or not all(isinstance(c, dict) for c in configs)):
            raise TypeError('aux_classifiers must be a non-empty list of '
                            'config dicts, each with a name, but got '
                            f'{configs!r}')
        names = []
        for cfg in configs:
            cfg = dict(cfg)
            name = cfg.pop('name', None)
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError('each of aux_classifiers needs a name (a '
                                 'Python identifier: its module and loss '
                                 f'key), but got {name!r} in {cfg}')
            if hasattr(self, name) or name in names:
                raise ValueError(f'aux_classifiers name {name!r} is taken '
                                 '(twice, or by the head itself)')
            if cfg.setdefault('num_classes', self.num_classes) != \
                    self.num_classes:
                raise ValueError(f'auxiliary classifier {name!r} predicts '
                                 f'{cfg["num_classes"]} classes, the head '
                                 f'{self.num_classes}')
            self.add_module(name, MODELS.build(cfg))
            names.append(name)
        return tuple(names)

    def _check_weights(self, aux_weight) -> Tuple[float, ...]:
        if isinstance(aux_weight, (int, float)) and not isinstance(
                aux_weight, bool):
            aux_weight = [aux_weight] * len(self.aux_names)
        if (isinstance(aux_weight, (str, bytes))
                or not isinstance(aux_weight, Sequence)
                or len(aux_weight) != len(self.aux_names)
                or not all(isinstance(w, (int, float))
                           and not isinstance(w, bool) and w >= 0
                           for w in aux_weight)):
            raise ValueError('aux_weight must be a non-negative number or one '
                             f'per auxiliary classifier {list(self.aux_names)}'
                             f', but got {aux_weight!r}')
        return tuple(float(w) for w in aux_weight)

    # ----------------------------------------------------------------- #
    # Main branch (what ClsHead's predict uses)
    # ----------------------------------------------------------------- #
    def pre_logits(self, feats: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The main feature: ``feats[-1]``, pooled and dropped out when the
        head has its own ``fc``."""
        feat = feats[-1]
        if self.in_channels is None:
            return feat
        if feat.dim() == 4:  # GoogLeNet's global average pool (Table 1)
            feat = feat.mean((2, 3))
        return self.dropout(feat)

    def forward(self, feats: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The main logits (auxiliary classifiers are not run)."""
        pre_logits = self.pre_logits(feats)
        return pre_logits if self.in_channels is None else self.fc(pre_logits)

    # ----------------------------------------------------------------- #
    # Auxiliary classifiers (training)
    # ----------------------------------------------------------------- #
    def forward_aux(self,
                    feats: Tuple[torch.Tensor, ...]) -> List[torch.Tensor]:
        """The logits of each auxiliary classifier, from ``feats[:n]``."""
        n = len(self.aux_names)
        if not isinstance(feats, (tuple, list)) or len(feats) < n + 1:
            count = len(feats) if isinstance(feats, (tuple, list)) else 1
            raise ValueError(
                f'AuxClsHead with auxiliary classifiers {list(self.aux_names)}'
                f' needs {n} tapped maps first and the main feature last '
                f'({n + 1} inputs), but got {count}: build the backbone with '
                'aux_taps naming the blocks they read, e.g. GoogLeNet('
                "aux_taps=('inception4a', 'inception4d')), InceptionV3("
                "aux_taps=('Mixed_6e',)), and no neck")
        logits = []
        for name, feat in zip(self.aux_names, feats[:n]):
            module = getattr(self, name)
            expected = getattr(module, 'in_channels', None)
            if feat.dim() != 4 or (expected is not None
                                   and feat.shape[1] != expected):
                raise ValueError(
                    f'auxiliary classifier {name!r} reads (N, {expected}, H, '
                    f'W) maps, but its input has shape {tuple(feat.shape)}: '
                    'the backbone\'s aux_taps must be in the order of '
                    'aux_classifiers')
            logits.append(module(feat))
        return logits

    @staticmethod
    def _targets(data_samples: List[DataSample]) -> torch.Tensor:
        # As ClsHead._get_loss: batch augments (Mixup) give soft scores.
        if 'gt_score' in data_samples[0]:
            return torch.stack([i.gt_score for i in data_samples])
        return torch.cat([i.gt_label for i in data_samples])

    def loss(self, feats: Tuple[torch.Tensor, ...],
             data_samples: List[DataSample], **kwargs) -> dict:
        """``loss`` (main), ``loss_<name>`` per auxiliary classifier (already
        weighted) and, with ``cal_acc``, the main accuracy."""
        losses = super().loss(feats, data_samples, **kwargs)
        target = self._targets(data_samples)
        for name, weight, score in zip(self.aux_names, self.aux_weights,
                                       self.forward_aux(feats)):
            losses[f'loss_{name}'] = weight * self.loss_module(
                score, target, avg_factor=score.size(0), **kwargs)
        return losses
