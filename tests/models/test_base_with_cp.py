"""BaseBackbone.run_stage: gradient checkpointing where it saves memory."""
import torch

from mmbackbones.models import ResNet


def forward_calls(block):
    calls = []
    block.register_forward_pre_hook(lambda module, args: calls.append(1))
    return calls


def test_with_cp_checkpoints_the_stage_after_a_frozen_stem():
    """Behind a frozen stem the first stage's input needs no gradient, but
    its parameters do: it must still be checkpointed (recomputed in
    backward) and give the plain run's gradients."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    weights = ResNet(depth=18).state_dict()
    grads = {}
    for with_cp in (False, True):
        model = ResNet(depth=18, frozen_stages=0, with_cp=with_cp)
        model.load_state_dict(weights)
        model.train()
        calls = forward_calls(model.layer1[0])
        model(x)[0].sum().backward()
        assert len(calls) == (2 if with_cp else 1)
        grads[with_cp] = model.layer1[0].conv1.weight.grad
    torch.testing.assert_close(grads[True], grads[False])


def test_frozen_stages_are_not_recomputed():
    model = ResNet(depth=18, frozen_stages=1, with_cp=True,
                   out_indices=(3, )).train()
    frozen, trained = forward_calls(model.layer1[0]), forward_calls(
        model.layer2[0])
    model(torch.rand(2, 3, 32, 32))[0].sum().backward()
    assert len(frozen) == 1 and len(trained) == 2
