"""Params and FLOPs of a config's backbone and whole model:
``python tools/analysis/get_flops.py CONFIG [--shape H W | --shape S]``."""
from mmbackbones.cli.get_flops import cli

if __name__ == '__main__':
    cli()
