"""Regenerate docs/model_zoo.md and docs/model_zoo.png from the configs and
docs/model_zoo_data.yaml: ``python tools/gen_model_zoo.py [--check]``
(exit 1: the committed page is out of date; 2: bad input). See
mmbackbones/cli/gen_model_zoo.py."""
from mmbackbones.cli.gen_model_zoo import cli

if __name__ == '__main__':
    cli()
