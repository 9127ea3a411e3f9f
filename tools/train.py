"""Train a classifier: ``python tools/train.py CONFIG [options]``.

See ``python tools/train.py --help`` and README.md.
"""
from mmbackbones.cli.train import cli

if __name__ == '__main__':
    cli()
