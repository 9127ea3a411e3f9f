"""ResNeXt (Xie et al., "Aggregated Residual Transformations for Deep
Neural Networks", CVPR 2017): ResNet whose bottleneck 3x3 convolution is
grouped (cardinality ``groups``, ``width_per_group`` channels each in the
first stage). The block is :class:`~.resnet.Bottleneck` with ``groups``;
this file only adds the table and the registered class.
"""
from typing import Dict, Optional

from mmbackbones.registry import MODELS
from ..base import check_positive_int
from .resnet import RESNET_ARCHS, ResNet, ResNetArch

__all__ = ['ResNeXt', 'RESNEXT_ARCHS']

#: Xie et al. Table 1 (ResNeXt-50) and Sec. 5.1 (101); mmpretrain adds
#: 152. The width ("32x4d", "64x4d", "32x8d") is ``groups`` x
#: ``width_per_group``, independent of the depth.
RESNEXT_ARCHS: Dict[int, ResNetArch] = {
    depth: RESNET_ARCHS[depth]
    for depth in (50, 101, 152)
}


@MODELS.register_module()
class ResNeXt(ResNet):
    """ResNeXt backbone.

    Args:
        depth (int | dict): 50, 101 or 152 (or a custom dict, see
            :class:`~.resnet.ResNet`).
        groups (int): Cardinality: groups of the 3x3 convolutions.
        width_per_group (int): Channels per group in the first stage
            (doubling with every stage).
        base_width (int, optional): mmdet's name for ``width_per_group``
            (mmdet's ResNeXt defaults to ``groups=1``; ours to 32).
        **kwargs: :class:`~.resnet.ResNet` arguments (``strides``,
            ``dilations``, ``deep_stem``, ``avg_down``, ``out_indices``...).

    Families with grouped bottlenecks (SE-ResNeXt, ResNeSt) derive from it
    and add their block arguments in :meth:`block_kwargs`.

    Example (32 groups of 4 channels in the first stage's 3x3
    convolution, doubling per stage; the outputs are ResNet-50's):
        >>> model = ResNeXt(depth=50, groups=32, width_per_group=4)
        >>> [(s[0].conv2.groups, s[0].mid_channels)
        ...  for s in model.stage_modules()]
        [(32, 128), (32, 256), (32, 512), (32, 1024)]
    """

    ARCHS = RESNEXT_ARCHS

    def __init__(self, depth, groups: int = 32, width_per_group: int = 4,
                 base_width: Optional[int] = None, **kwargs):
        if base_width is not None:
            # mmdet's name for width_per_group
            if width_per_group not in (4, base_width):
                raise ValueError(
                    'base_width is mmdet\'s name for width_per_group; give '
                    f'one of them, not width_per_group={width_per_group} and '
                    f'base_width={base_width}')
            width_per_group = base_width
        check_positive_int('groups', groups)
        check_positive_int('width_per_group', width_per_group)
        # Read by block_kwargs() while ResNet.__init__ builds the stages.
        self.groups = groups
        self.width_per_group = width_per_group
        super().__init__(depth, **kwargs)

    def block_kwargs(self) -> dict:
        # Cooperative: SE-ResNeXt and ResNeSt add their own arguments.
        return dict(super().block_kwargs(), groups=self.groups,
                    width_per_group=self.width_per_group,
                    base_channels=self.base_channels)
