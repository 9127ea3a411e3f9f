"""Classify images: ``python tools/infer.py CONFIG_OR_NAME CHECKPOINT
IMAGE... [--topk 5] [--source torchvision] [--device cpu]``.

See ``mmbackbones/cli/infer.py``.
"""
from mmbackbones.cli.infer import cli

if __name__ == '__main__':
    cli()
