"""Dataset preparation for the demos (no download needed), and datasets
that fail with one message naming the file."""
from .checked import (BadSampleError, CheckedDataset, DatasetError,
                      check_class_folders, check_same_classes)
from .digits import prepare_data, prepare_digits

__all__ = [
    'BadSampleError', 'CheckedDataset', 'DatasetError', 'check_class_folders',
    'check_same_classes', 'prepare_digits', 'prepare_data'
]
