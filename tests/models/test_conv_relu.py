"""conv2d_relu: the oneDNN conv+ReLU fusion used by RepVGG's deploy form."""
import pytest
import torch
import torch.nn as nn

from mmbackbones.models.layers import conv2d_relu
from mmbackbones.models.layers.packed_conv import onednn_inference


def relative_error(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


CASES = [
    dict(stride=1, padding=1, dilation=1, groups=1, bias=True),
    dict(stride=2, padding=1, dilation=1, groups=1, bias=True),
    dict(stride=1, padding=2, dilation=2, groups=1, bias=True),
    dict(stride=1, padding=1, dilation=1, groups=4, bias=True),
    dict(stride=2, padding=0, dilation=1, groups=1, bias=False),
]


@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('case', CASES, ids=str)
def test_fused_equals_conv_then_relu(case, memory_format):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 16, 3, **case).to(memory_format=memory_format)
    x = torch.randn(2, 8, 13, 11).to(memory_format=memory_format)
    with torch.no_grad():
        assert onednn_inference(conv, x), \
            'the fused oneDNN path was not taken'
        fused = conv2d_relu(conv, x)
        expected = torch.relu(conv(x))
    assert fused.shape == expected.shape
    assert (fused >= 0).all()
    assert relative_error(fused, expected) < 1e-5


def test_training_takes_the_autograd_path():
    conv = nn.Conv2d(4, 4, 3, padding=1)
    x = torch.randn(1, 4, 8, 8, requires_grad=True)
    assert not onednn_inference(conv, x)
    conv2d_relu(conv, x).sum().backward()
    assert x.grad is not None and conv.weight.grad is not None


@pytest.mark.parametrize('make', [
    lambda: nn.Conv2d(4, 4, 3, padding=1, padding_mode='reflect'),
    lambda: nn.Conv2d(4, 4, 3, padding='same'),
    lambda: nn.Conv2d(4, 4, 3, padding=1).double(),
])
def test_unsupported_convs_fall_back(make):
    conv = make()
    x = torch.randn(1, 4, 8, 8, dtype=conv.weight.dtype)
    with torch.no_grad():
        assert not onednn_inference(conv, x)
        out = conv2d_relu(conv, x)
        assert torch.equal(out, torch.relu(conv(x)))


def test_autocast_keeps_its_bfloat16_conv():
    conv = nn.Conv2d(4, 4, 3, padding=1)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        assert not onednn_inference(conv, x)
        assert conv2d_relu(conv, x).dtype == torch.bfloat16


def test_tracing_records_plain_conv_and_relu():
    """ONNX export traces the model: the graph must hold standard ops."""
    conv = nn.Conv2d(4, 4, 3, padding=1).eval()

    class Block(nn.Module):

        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return conv2d_relu(self.conv, x)

    with torch.no_grad():
        graph = str(torch.jit.trace(Block(), torch.randn(1, 4, 8, 8)).inlined_graph)
    assert 'aten::_convolution' in graph and 'aten::relu' in graph
    assert 'mkldnn' not in graph
