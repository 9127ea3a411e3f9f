"""mmdet/mmseg/mmpose argument names work on our backbones of the same
name, so a downstream config swaps ``type`` only (issue 9, item 4)."""
import importlib
import warnings

import pytest
import torch
from backbone_checks import randomize_bn, relative_error

from mmbackbones.models import (HRNet, Res2Net, ResNeSt, ResNet, ResNetV1c,
                                ResNeXt)
from mmbackbones.models.backbones.hrnet import (HRNET_ARCHS, UPSAMPLE_MMSEG,
                                                UPSAMPLE_NEAREST)

W18 = {k: s.as_dict() for k, s in HRNET_ARCHS['w18'].items()}


def _has_mmcv_ops() -> bool:
    try:
        importlib.import_module('mmcv.ops')
        return True
    except ImportError:
        return False


def test_pretrained_becomes_init_cfg_with_mmdets_warning():
    with pytest.warns(UserWarning, match='DeprecationWarning: pretrained is '
                      'deprecated, please use "init_cfg" instead'):
        model = ResNetV1c(depth=18, pretrained='open-mmlab://resnet18_v1c')
    assert model.init_cfg == dict(type='Pretrained',
                                  checkpoint='open-mmlab://resnet18_v1c')
    with pytest.warns(UserWarning):
        hrnet = HRNet(extra=W18, pretrained='hr.pth')
    assert hrnet.pretrained_cfg['checkpoint'] == 'hr.pth'
    with pytest.raises(ValueError, match='init_cfg and pretrained'):
        ResNet(depth=18, pretrained='a.pth',
               init_cfg=dict(type='Pretrained', checkpoint='b.pth'))
    with pytest.raises(TypeError, match='pretrained must be a str'):
        ResNet(depth=18, pretrained=3)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        ResNet(depth=18, pretrained=None)  # mmseg passes None: no warning


def test_base_width_is_width_per_group():
    ours = ResNeXt(depth=50, groups=32, base_width=8)
    assert ours.width_per_group == 8
    assert ours.layer1[0].conv2.out_channels == 256  # 32 x 8
    with pytest.raises(ValueError, match='base_width is mmdet'):
        ResNeXt(depth=50, groups=32, width_per_group=8, base_width=4)
    # mmdet's ResNeSt arguments, as its configs write them
    resnest = ResNeSt(depth=50, groups=1, base_width=4, radix=2,
                      reduction_factor=4, avg_down_stride=True,
                      stem_channels=64, norm_eval=True)
    assert resnest.width_per_group == 4 and resnest.norm_eval


def test_mmseg_contract_dilation_and_multi_grid():
    model = ResNetV1c(depth=50, strides=(1, 2, 1, 1),
                      dilations=(1, 1, 2, 4), contract_dilation=True,
                      multi_grid=(1, 2, 4), out_indices=(0, 1, 2, 3))
    # mmseg's ResLayer: the first block of a dilated stage at half the
    # dilation; multi_grid replaces the last stage's dilations.
    assert [b.conv2.dilation[0] for b in model.layer3] == [1] + [2] * 5
    assert [b.conv2.dilation[0] for b in model.layer4] == [1, 2, 4]
    assert [b.conv2.padding[0] for b in model.layer4] == [1, 2, 4]
    outs = model.eval()(torch.rand(1, 3, 64, 64))
    assert [o.shape[-1] for o in outs] == [16, 8, 8, 8]  # output stride 8
    with pytest.raises(ValueError, match='multi_grid must be 3'):
        ResNet(depth=50, multi_grid=(1, 2))
    # the same weights, without contraction: another network
    plain = ResNetV1c(depth=50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                      out_indices=(0, 1, 2, 3))
    assert plain.layer3[0].conv2.dilation[0] == 2


def test_plugins_and_dcn_errors():
    with pytest.raises(ValueError, match='plugins are not supported.*'
                       "use type='ResNet' of mmdet"):
        ResNet(depth=50, plugins=[dict(cfg=dict(type='ContextBlock'))])
    with pytest.raises(ValueError, match='dcn is supported on plain and '
                       'grouped bottlenecks'):
        ResNet(depth=18, dcn=dict(type='DCN'),
               stage_with_dcn=(False, True, True, True))
    with pytest.raises(ValueError, match='not on SplitAttentionBottleneck'):
        ResNeSt(depth=50, dcn=dict(type='DCN'),
                stage_with_dcn=(False, True, True, True))
    with pytest.raises(ValueError, match='stage_with_dcn needs 4 entries'):
        ResNet(depth=50, dcn=dict(type='DCN'), stage_with_dcn=(True, ))
    # dcn with every stage off builds the plain network, ops or not
    assert ResNet(depth=50, dcn=dict(type='DCN')).layer1[0].dcn is None


@pytest.mark.skipif(_has_mmcv_ops(), reason='full mmcv is installed')
def test_dcn_without_full_mmcv_names_it():
    with pytest.raises(ImportError, match='dcn needs the compiled ops of '
                       'full mmcv'):
        ResNet(depth=50, dcn=dict(type='DCNv2', deform_groups=1),
               stage_with_dcn=(False, True, True, True))


@pytest.mark.skipif(not _has_mmcv_ops(), reason='dcn needs full mmcv ops')
def test_dcn_with_full_mmcv_builds_and_runs():
    model = ResNet(depth=50, dcn=dict(type='DCNv2', deform_groups=1),
                   stage_with_dcn=(False, True, True, True),
                   out_indices=(0, 1, 2, 3))
    assert type(model.layer2[0].conv2).__name__ == 'ModulatedDeformConv2dPack'
    assert 'layer2.0.conv2.conv_offset.weight' in model.state_dict()
    outs = model(torch.rand(1, 3, 64, 64))
    sum(o.sum() for o in outs).backward()


def test_hrnet_upsampling_mode_and_mmpose_extra():
    x = torch.rand(1, 3, 64, 64)
    nearest = randomize_bn(HRNet(extra=W18)).eval()
    mmseg = HRNet(extra=W18, upsample_cfg=UPSAMPLE_MMSEG).eval()
    mmseg.load_state_dict(nearest.state_dict())  # same keys
    fuse = mmseg.stage2[0].fuse_layers[0][1][2]
    assert (fuse.mode, fuse.align_corners) == ('bilinear', False)
    errors = [relative_error(a, b) for a, b in zip(mmseg(x), nearest(x))]
    assert min(errors) > 1e-3  # the mode matters for the same weights
    pose = HRNet(extra=dict(W18, upsample=dict(mode='bilinear',
                                               align_corners=False)))
    assert pose.upsample_cfg == UPSAMPLE_MMSEG
    assert HRNet(extra=W18).upsample_cfg == UPSAMPLE_NEAREST
    with pytest.raises(ValueError, match='upsample_cfg mode must be one of'):
        HRNet(extra=W18, upsample_cfg=dict(mode='linear'))


def test_hrnet_single_output_for_mmpose_heads():
    model = HRNet(extra=W18, multiscale_output=False).eval()
    outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 18, 16, 16)]
    # mmpose's configs say it inside extra's stage4
    pose_extra = dict(W18, stage4=dict(W18['stage4'],
                                       multiscale_output=False))
    assert HRNet(extra=pose_extra).out_indices == (0, )


def test_res2net_takes_mmdet_arguments():
    with pytest.warns(UserWarning, match='pretrained is deprecated'):
        model = Res2Net(depth=50, scales=4, base_width=26,
                        pretrained='r2.pth', out_indices=(0, 1, 2, 3))
    assert model.pretrained_cfg['checkpoint'] == 'r2.pth'
