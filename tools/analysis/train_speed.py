"""End-to-end training (and deploy) speed against the reference
implementation, side by side.

See ``python tools/analysis/train_speed.py --help``; the code is
``mmbackbones.cli.train_speed``.
"""
from mmbackbones.cli.train_speed import cli

if __name__ == '__main__':
    cli()
