"""Convert torchvision / timm / mmpretrain weights:
``python tools/convert_weights.py --source S --config C IN OUT``."""
from mmbackbones.cli.convert_weights import cli

if __name__ == '__main__':
    cli()
