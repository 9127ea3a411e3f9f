"""Checks every backbone family must pass (DESIGN.md, definition of done).

Family tests call these with a factory; each check asserts something that
fails when the shared contract is broken for that family.
"""
from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

# The one NaN-safe comparison of the package (re-exported for the tests).
from mmbackbones.deploy.utils import relative_error  # noqa: F401

Factory = Callable[..., nn.Module]


def count_params(module: nn.Module, exclude_prefixes: Sequence[str] = ()):
    return sum(p.numel() for name, p in module.named_parameters()
               if not any(name.startswith(e) for e in exclude_prefixes))


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random affine parameters and running statistics for every BN, so that
    a folding or mapping mistake cannot hide behind mean 0 / var 1."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=gen) * 2 - 1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                    m.bias.copy_(torch.rand(n, generator=gen) - 0.5)
    return model


def small_input(batch: int = 2, size: int = 32) -> torch.Tensor:
    return torch.rand(batch, 3, size, size)


def torchvision_features(model: nn.Module) -> nn.Module:
    """A torchvision ResNet-like classifier without its pool and fc."""
    return nn.Sequential(*list(model.children())[:-2])


def check_forward_backward(model: nn.Module, x: torch.Tensor,
                           check_spatial: bool = True) -> None:
    """Output shapes follow feature_info; every parameter gets a gradient.

    ``check_spatial=False`` for families with unpadded convolutions, whose
    maps are smaller than input / stride.
    """
    model.train()
    outs = model(x)
    assert isinstance(outs, tuple)
    assert len(outs) == len(model.out_indices)
    for out, info in zip(outs, model.feature_info):
        assert out.shape[1] == info['channels'], (out.shape, info)
        if check_spatial:
            expected = -(-x.shape[2] // info['stride'])  # ceil division
            assert abs(out.shape[2] - expected) <= 1, (out.shape, info)
    sum(o.float().mean() for o in outs).backward()
    no_grad = [n for n, p in model.named_parameters()
               if p.requires_grad and (p.grad is None or
                                       not torch.isfinite(p.grad).all())]
    assert not no_grad, f'parameters without a gradient: {no_grad[:5]}'


def check_out_indices(factory: Factory, x: torch.Tensor,
                      num_stages: int) -> None:
    """Every single index, negative indices and all stages at once."""
    model = factory(out_indices=tuple(range(num_stages))).eval()
    with torch.no_grad():
        outs = model(x)
    assert len(outs) == num_stages == len(model.feature_info)
    assert [o.shape[1] for o in outs] == list(model.out_channels)
    strides = [info['stride'] for info in model.feature_info]
    assert strides == sorted(strides)
    last = factory(out_indices=-1).eval()
    assert last.out_indices == (num_stages - 1, )


def check_bad_arguments(factory: Factory, num_stages: int) -> None:
    import pytest
    with pytest.raises(ValueError, match='out_indices'):
        factory(out_indices=(num_stages, ))
    with pytest.raises(ValueError, match='out_indices'):
        factory(out_indices=(-num_stages - 1, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        factory(frozen_stages=num_stages + 1)
    with pytest.raises(ValueError, match='frozen_stages'):
        factory(frozen_stages=-2)


def check_bad_input(model: nn.Module, x: torch.Tensor) -> None:
    import pytest
    with pytest.raises(ValueError, match='channels'):
        model(x[:, :1])
    with pytest.raises(ValueError, match='shape'):
        model(x[0])


def check_frozen_stages(factory: Factory, frozen: int) -> None:
    """Freeze units ``0..frozen`` (by default the stem and the first
    ``frozen`` stages) stay frozen through ``train()``; the rest trains."""
    model = factory(frozen_stages=frozen)
    assert model.train() is model  # train() returns self
    units = model.freeze_unit_modules()
    frozen_modules = [m for unit in units[:frozen + 1] for m in unit]
    frozen_params = {id(p) for m in frozen_modules for p in m.parameters()}
    assert frozen_params or frozen <= 1  # a stem may have no parameters
    for p in model.parameters():
        assert p.requires_grad == (id(p) not in frozen_params)
    for m in frozen_modules:
        for sub in m.modules():
            assert not sub.training
    for unit in units[frozen + 1:]:
        assert all(sub.training for m in unit for sub in m.modules())


def check_norm_eval(factory: Factory, x: torch.Tensor) -> None:
    model = factory(norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(not m.training for m in bns)
    before = [m.running_mean.clone() for m in bns]
    model(x)
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, bns))


def check_with_cp(factory: Factory, x: torch.Tensor) -> None:
    """Same outputs, gradients and BN running statistics with and without
    gradient checkpointing."""
    plain = factory()
    cp = factory(with_cp=True)
    cp.load_state_dict(plain.state_dict())
    results = []
    for model in (plain, cp):
        model.train()
        inp = x.clone().requires_grad_(True)
        outs = model(inp)
        sum(o.sum() for o in outs).backward()
        results.append((outs, inp.grad,
                        {n: p.grad for n, p in model.named_parameters()},
                        model.state_dict()))
    (o1, g1, p1, s1), (o2, g2, p2, s2) = results
    for a, b in zip(o1, o2):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(g1, g2)
    for name in p1:
        torch.testing.assert_close(p1[name], p2[name], msg=name)
    for name in s1:
        torch.testing.assert_close(s1[name], s2[name], msg=name)


def check_channels_last(model: nn.Module, x: torch.Tensor) -> None:
    """Training step in channels_last gives the contiguous result."""
    model.eval()
    with torch.no_grad():
        ref = model(x)
    model = model.to(memory_format=torch.channels_last)
    outs = model(x.contiguous(memory_format=torch.channels_last))
    for a, b in zip(outs, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    model.train()
    outs = model(x.contiguous(memory_format=torch.channels_last))
    sum(o.mean() for o in outs).backward()


def check_equivalent(ours: nn.Module, reference: Callable, x: torch.Tensor,
                     rtol: float = 1e-5, index: Optional[int] = -1) -> None:
    """Our feature (``index``) equals the reference's to ``rtol`` relative
    error (max abs difference over max abs value)."""
    ours.eval()
    with torch.no_grad():
        out = ours(x)
        ref = reference(x)
    out = out[index] if index is not None else out
    err = relative_error(out, ref)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    assert err <= rtol, f'relative error {err:.2e} > {rtol:.0e}'


def build_meta(factory, *args, **kwargs):
    """Build without allocating weights: for counting parameters."""
    with torch.device('meta'):
        return factory(*args, **kwargs)


def check_equivalent_outputs(ours, reference, x, rtol=1e-5):
    """Like ``check_equivalent`` for every output at once (one forward of
    each model); ``reference`` returns the same number of maps."""
    ours.eval()
    with torch.no_grad():
        outs, refs = ours(x), reference(x)
    assert len(outs) == len(refs)
    for i, (out, ref) in enumerate(zip(outs, refs)):
        assert out.shape == ref.shape, (i, out.shape, ref.shape)
        err = relative_error(out, ref)
        assert err <= rtol, f'output {i}: relative error {err:.2e}'


def check_mmpretrain_checkpoint(ours, ref, x):
    """``ref``, an mmpretrain backbone, saved as a whole mmpretrain
    classifier checkpoint (``backbone.`` keys, a neck and a head) converts
    into ``ours`` with strict keys, and both give the same outputs on ``x``.
    ``ref``'s BN statistics are randomised first; build both with the same
    ``out_indices``."""
    from mmbackbones.converters import convert_state_dict
    randomize_bn(ref)
    state_dict = {f'backbone.{k}': v for k, v in ref.state_dict().items()}
    # The converter keeps the backbone part only.
    state_dict['neck.conv.weight'] = torch.zeros(4, 4, 1, 1)
    state_dict['head.fc.weight'] = torch.zeros(10, 4)
    ours.load_state_dict(
        convert_state_dict({'state_dict': state_dict}, 'mmpretrain', ours),
        strict=True)
    ref.eval()  # mmpretrain's train() returns None, so no chaining
    check_equivalent_outputs(ours, ref, x)


def check_mmpretrain_equivalence(type_name, **kwargs):
    """Our type and mmpretrain's of the same name, with the same arguments
    and four outputs: :func:`check_mmpretrain_checkpoint`."""
    kwargs = dict(kwargs, out_indices=(0, 1, 2, 3))
    from mmpretrain import models as mmpretrain_models

    from mmbackbones import models
    check_mmpretrain_checkpoint(
        getattr(models, type_name)(**kwargs),
        getattr(mmpretrain_models, type_name)(**kwargs),
        torch.rand(2, 3, 32, 32))


class BackboneContract:
    """The shared contract as a test class: a family test module subclasses
    it, sets ``num_stages`` (and ``input_size``/``spatial`` if needed) and
    defines ``build(**kwargs)`` returning a small variant::

        class TestShuffleNetV2Contract(BackboneContract):
            num_stages = 4

            @staticmethod
            def build(**kwargs):
                return ShuffleNetV2(widen_factor=0.5, **kwargs)
    """
    num_stages: int = 4
    input_size: int = 64
    check_spatial: bool = True
    #: Config that builds a variant through the registry (default: the
    #: class name alone, for families whose arguments all have defaults).
    registry_cfg: Optional[dict] = None

    @staticmethod
    def build(**kwargs) -> nn.Module:
        raise NotImplementedError

    def x(self, batch: int = 2) -> torch.Tensor:
        return torch.rand(batch, 3, self.input_size, self.input_size)

    def all_stages(self, **kwargs) -> nn.Module:
        return self.build(out_indices=tuple(range(self.num_stages)),
                          **kwargs)

    def test_forward_backward(self):
        check_forward_backward(self.all_stages(), self.x(),
                               check_spatial=self.check_spatial)

    def test_out_indices(self):
        check_out_indices(self.build, self.x(1), self.num_stages)

    def test_bad_arguments_and_input(self):
        check_bad_arguments(self.build, self.num_stages)
        check_bad_input(self.build(), self.x())

    def test_frozen_stages(self):
        last = len(self.build().freeze_unit_modules()) - 1  # the declared
        for frozen in sorted({0, last // 2, last}):
            check_frozen_stages(self.build, frozen)

    def test_norm_eval(self):
        check_norm_eval(self.build, self.x())

    def test_with_cp(self):
        check_with_cp(
            lambda **kw: self.build(
                out_indices=(0, self.num_stages - 1), **kw), self.x())

    def test_channels_last(self):
        check_channels_last(self.all_stages(), self.x())

    def test_registry_build_and_train_returns_self(self):
        from mmbackbones.registry import MODELS
        model = self.build()
        cfg = dict(self.registry_cfg or dict(type=type(model).__name__))
        cfg['type'] = f"mmbackbones.{cfg['type']}"
        assert type(MODELS.build(cfg)) is type(model)
        assert model.eval() is model and not model.training
        assert model.train() is model and model.training
