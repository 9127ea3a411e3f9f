"""Dataset preparation for the demos (no download needed)."""
from .digits import prepare_digits, prepare_data

__all__ = ['prepare_digits', 'prepare_data']
