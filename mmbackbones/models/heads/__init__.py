"""Classification heads (registered in ``mmbackbones.registry.MODELS``)."""
from .aux_cls_head import AuxClsHead

__all__ = ['AuxClsHead']
