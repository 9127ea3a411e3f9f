"""Inference speed of each family's deploy form against its training form.

See ``python tools/analysis/deploy_speed.py --help``; the code is
``mmbackbones.cli.deploy_speed``.
"""
from mmbackbones.cli.deploy_speed import cli

if __name__ == '__main__':
    cli()
