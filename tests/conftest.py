"""Shared pytest set-up: small thread count and quiet mmengine logs."""
import logging
import os
import sys

import pytest
import torch

# Make tests/backbone_checks.py importable from every test sub-folder.
sys.path.insert(0, os.path.dirname(__file__))

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _deterministic_seed():
    torch.manual_seed(0)
    yield


def pytest_configure(config):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    logging.getLogger('mmengine').setLevel(logging.WARNING)
