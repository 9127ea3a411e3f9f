"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
from mmbackbones.cli.test import cli

if __name__ == '__main__':
    cli()
