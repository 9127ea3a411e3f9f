"""tools/convert_weights.py end to end, and its refusals."""
import torch
import torchvision
from backbone_checks import check_equivalent, randomize_bn
from conftest import run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmbackbones.registry import MODELS

CONFIG = 'configs/shufflenet_v2/shufflenet_v2_0_5x.py'


def test_torchvision_weights_to_pretrained_init(tmp_path):
    ref = randomize_bn(torchvision.models.shufflenet_v2_x0_5())
    src = tmp_path / 'tv.pth'
    torch.save(ref.state_dict(), src)
    out = tmp_path / 'converted.pth'
    result = run_tool(['tools/convert_weights.py', '--source', 'torchvision',
                       '--config', CONFIG, str(src), str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.is_file() and not list(tmp_path.glob('.*.tmp'))
    # No settings declared for ShuffleNetV2: the config is written as is,
    # and the tool says the output was not verified.
    assert (tmp_path / 'converted.py').is_file()
    assert 'not verified' in result.stdout

    # The converted file initialises the config's backbone via init_cfg.
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.init_cfg = dict(
        type='Pretrained', checkpoint=str(out), prefix='backbone.')
    init_default_scope('mmbackbones')
    model = MODELS.build(cfg.model)
    model.init_weights()
    features = torch.nn.Sequential(ref.conv1, ref.maxpool, ref.stage2,
                                   ref.stage3, ref.stage4, ref.conv5).eval()
    check_equivalent(model.backbone, features, torch.rand(1, 3, 64, 64))


def test_refuses_wrong_source_arch_and_overwrite(tmp_path):
    src = tmp_path / 'tv.pth'
    torch.save(torchvision.models.shufflenet_v2_x1_0().state_dict(), src)
    wrong = run_tool(['tools/convert_weights.py', '--source', 'torchvision',
                      '--config', CONFIG, str(src), str(tmp_path / 'o.pth')])
    assert wrong.returncode == 2 and 'Traceback' not in wrong.stderr
    assert 'do not fit' in wrong.stderr and 'shape mismatch' in wrong.stderr
    assert not (tmp_path / 'o.pth').exists()
    same = run_tool(['tools/convert_weights.py', '--source', 'torchvision',
                     '--config', CONFIG, str(src), str(src)])
    assert same.returncode == 2 and 'never overwrites' in same.stderr
