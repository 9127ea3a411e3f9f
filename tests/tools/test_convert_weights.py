"""tools/convert_weights.py end to end, and its refusals."""
import torch
import torchvision
from backbone_checks import check_equivalent, randomize_bn
from conftest import run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmbackbones.cli.common import call_tool
from mmbackbones.cli.convert_weights import main
from mmbackbones.models import ShuffleNetV2
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
    # ShuffleNetV2 needs no settings: the config is written as it is; the
    # conversion was checked against torchvision's model.
    assert (tmp_path / 'converted.py').is_file()
    assert 'verified against torchvision shufflenet_v2_x0_5' in result.stdout
    assert 'already has what' in result.stdout

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


def test_refuses_wrong_source_arch_and_overwrite(tmp_path, capsys):
    # In-process (the tool's exit-status rule, call_tool): the script entry
    # point is run above.
    src = tmp_path / 'tv.pth'
    torch.save(torchvision.models.shufflenet_v2_x1_0().state_dict(), src)
    args = ['--source', 'torchvision', '--config', CONFIG, str(src)]
    assert call_tool(main, args + [str(tmp_path / 'o.pth')]) == 2
    err = capsys.readouterr().err
    assert 'do not fit' in err and 'shape mismatch' in err
    assert not (tmp_path / 'o.pth').exists()
    assert not (tmp_path / 'o.py').exists()
    assert call_tool(main, args + [str(src)]) == 2
    assert 'never overwrites' in capsys.readouterr().err
    # A pair without a declared reference: written, with a one-line note.
    mm = tmp_path / 'mm.pth'
    torch.save(ShuffleNetV2(widen_factor=0.5).state_dict(), mm)
    assert call_tool(main, ['--source', 'mmpretrain', '--config', CONFIG,
                            str(mm), str(tmp_path / 'mm_out.pth')]) == 0
    assert 'note: the output was not verified: no mmpretrain reference' \
        in capsys.readouterr().out
    # OUT's config would overwrite the config given.
    config_copy = tmp_path / 'mine.py'
    config_copy.write_text(open(CONFIG).read())
    assert call_tool(main, ['--source', 'torchvision', '--config',
                            str(config_copy), str(src),
                            str(tmp_path / 'mine.pth')]) == 2
    assert 'would overwrite the config' in capsys.readouterr().err
