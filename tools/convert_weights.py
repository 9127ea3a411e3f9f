"""Convert torchvision / timm / mmpretrain / pretrainedmodels / pytorchcv /
mmdet weights: ``python tools/convert_weights.py --source S --config C IN
OUT`` writes OUT and, beside it, the matching config (OUT's stem + ``.py``:
C with the settings the source's weights imply), verified against the
source model when its package is installed. See
mmbackbones/cli/convert_weights.py."""
from mmbackbones.cli.convert_weights import cli

if __name__ == '__main__':
    cli()
