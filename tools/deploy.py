"""Convert a trained checkpoint to its deploy form, verified:
``python tools/deploy.py CONFIG CHECKPOINT --out OUT.pth [--onnx OUT.onnx]``
(see ``--help`` and mmbackbones/cli/deploy.py)."""
from mmbackbones.cli.deploy import cli

if __name__ == '__main__':
    cli()
