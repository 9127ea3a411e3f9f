"""Side-by-side speed of one of our backbones and a reference backbone.

See ``python tools/analysis/benchmark.py --help``; the code is
``mmbackbones.cli.benchmark``.
"""
from mmbackbones.cli.benchmark import cli

if __name__ == '__main__':
    cli()
