"""One module per backbone family; importing registers them."""
from .shufflenet_v2 import ShuffleNetV2

__all__ = ['ShuffleNetV2']
