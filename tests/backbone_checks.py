"""Checks every backbone family must pass (DESIGN.md, definition of done).

Family tests call these with a factory; each check asserts something that
fails when the shared contract is broken for that family.
"""
import contextlib
import copy
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set

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


class Collapsed(nn.Identity):
    """What :func:`collapse_repeats` leaves of a repeated block: its input,
    whatever else the block was called with (HRNet's ``out_branches``)."""

    def forward(self, x, *args, **kwargs):
        return x


def collapse_repeats(model: nn.Module) -> int:
    """Replace each block of an ``nn.Sequential`` that repeats the block
    before it -- the same ``repr``: type, widths, stride, every argument --
    by :class:`Collapsed` (the repeat maps its input's shape to itself, so
    the network still runs, and its module paths stay valid for the stage
    declarations). Returns how many were replaced."""
    replaced = 0
    for module in list(model.modules()):
        if type(module) is not nn.Sequential:
            continue
        before = None
        for name, child in list(module.named_children()):
            text = repr(child)
            if text == before:
                module._modules[name] = Collapsed()
                replaced += 1
            before = text
    return replaced


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


def parameter_use_order(model: nn.Module,
                        x: torch.Tensor) -> List[str]:
    """Names of ``model``'s parameters in the order its forward first uses
    them (a forward pre-hook on every module that owns parameters), and the
    outputs of that forward: what the network does, not what it declares."""
    names = {id(p): n for n, p in model.named_parameters()}
    order: List[str] = []

    def hook(module, args):
        for p in module.parameters(recurse=False):
            if names[id(p)] not in order:
                order.append(names[id(p)])

    handles = [m.register_forward_pre_hook(hook) for m in model.modules()
               if any(True for _ in m.parameters(recurse=False))]
    try:
        outs = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return order, outs


def output_ancestry(model: nn.Module,
                    outputs: Sequence[torch.Tensor]) -> List[Set[str]]:
    """For each output, the names of the parameters it is computed from:
    the leaves its autograd graph reaches (works on the meta device)."""
    names = {id(p): n for n, p in model.named_parameters()}
    result = []
    for out in outputs:
        found, seen = set(), set()
        stack = [out.grad_fn]
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            variable = getattr(node, 'variable', None)  # AccumulateGrad
            if variable is not None and id(variable) in names:
                found.add(names[id(variable)])
            stack.extend(next_node for next_node, _ in node.next_functions)
        result.append(found)
    return result


def is_chain(taps: Sequence[Set[str]]) -> bool:
    """Whether each output is computed from strictly more parameters than
    the one before: outputs tapped one after another along one path (not
    HRNet's parallel branches)."""
    return all(a < b for a, b in zip(taps, taps[1:]))


def check_frozen_stages(factory: Factory, frozen: Optional[int] = None,
                        size: int = 64) -> None:
    """``frozen_stages`` checked against what the network computes, not
    against its own ``stage_modules()``.

    Built on the meta device (no arithmetic) with every stage returned; a
    train-mode forward records the order the parameters are first used and
    the autograd graph gives, for every output, the parameters it comes
    from. For each value ``k`` (``frozen``, or every value from -1 up that
    the constructor accepts), after ``eval()`` then ``train()``:

    * ``k = -1`` freezes nothing;
    * ``k >= 0`` freezes a prefix of the use order, non-empty and strictly
      larger than ``k - 1``'s for ``k >= 1`` (``k = 0`` is the stem, which
      VGG does not have);
    * where the outputs are tapped along one path (:func:`is_chain`; not
      HRNet's parallel branches) the frozen set ends where an output is
      tapped: it equals the parameters of some output (``k >= 1``), or lies
      within the first output's (``k = 0``) -- true of any sensible meaning
      of ``k``, whichever stage it counts from;
    * modules owning frozen parameters (BatchNorm included) are in eval
      mode, every other module owning parameters trains.
    """
    with torch.device('meta'):
        reference = factory(frozen_stages=-1)
        every = tuple(range(reference.num_stages))
        reference = factory(out_indices=every, frozen_stages=-1).train()
        x = torch.empty(2, reference.in_channels, size, size)
    order, outs = parameter_use_order(reference, x)
    taps = output_ancestry(reference, outs)
    check_frozen_values(factory, order, taps,
                        None if frozen is None else [frozen])


#: The one exception to "frozen_stages freezes a prefix": a family that,
#: to freeze exactly what mmpretrain's backbone of the same name freezes
#: (tests/test_freezing.py compares the two), never freezes its leading
#: parameters with these name prefixes. The prefix rule is checked on the
#: rest, and these must never be frozen.
NEVER_FROZEN = {
    # mmpretrain's DenseNet._freeze_stages freezes stages and transitions
    # 0..k-1 and leaves the stem trainable.
    'DenseNet': ('stem.',),
}


def check_frozen_values(factory: Factory, order: Sequence[str],
                        taps: Sequence[Set[str]],
                        values: Optional[Sequence[int]] = None) -> None:
    """:func:`check_frozen_stages` given the reference's parameter use
    ``order`` and each output's parameters ``taps``."""
    num_stages = len(taps)
    everything = set(order)
    with torch.device('meta'):
        family = type(factory(frozen_stages=-1)).__name__
    kept = NEVER_FROZEN.get(family, ())
    if kept:
        order = [n for n in order if not n.startswith(kept)]
        taps = [{n for n in t if not n.startswith(kept)} for t in taps]
    previous: Optional[Set[str]] = None
    checked = []
    for k in (range(-1, num_stages + 1) if values is None else values):
        try:
            with torch.device('meta'):  # norm_eval: BN in eval anyway
                model = factory(out_indices=tuple(range(num_stages)),
                                frozen_stages=k, norm_eval=False)
        except ValueError as error:
            # past the family's range (the base class allows num_stages,
            # mmpretrain's MobileNetV3 one less): the named error
            assert values is None and k > 0, error
            assert 'frozen_stages' in str(error), error
            break
        checked.append(k)
        model.eval()
        assert model.train() is model  # train() returns self
        names = {n for n, _ in model.named_parameters()}
        assert names == everything, 'parameters never used in forward: ' + (
            f'{sorted(names - everything)[:5]}')
        frozen_set = {n for n, p in model.named_parameters()
                      if not p.requires_grad}
        what = f'frozen_stages={k}'
        if k < 0:
            assert not frozen_set, f'{what} froze {sorted(frozen_set)[:5]}'
        else:
            assert frozen_set or k == 0, f'{what} froze nothing'
            assert set(order[:len(frozen_set)]) == frozen_set, (
                f'{what}: the frozen parameters are not the first ones the '
                f'forward uses; the first unfrozen is '
                f'{next(n for n in order if n not in frozen_set)}')
            if is_chain(taps) and k == 0:
                assert frozen_set <= taps[0], (
                    f'{what} froze beyond the first output: '
                    f'{sorted(frozen_set - taps[0])[:5]}')
            elif is_chain(taps):
                assert frozen_set in taps, (
                    f'{what}: the frozen part does not end where an output '
                    f'is tapped ({len(frozen_set)} parameters; the outputs '
                    f'come from {[len(t) for t in taps]})')
        if previous is not None and k > 0:
            assert previous < frozen_set, f'{what} froze no more than {k - 1}'
        previous = frozen_set
        for name, module in model.named_modules():
            own = [p for p in module.parameters(recurse=False)]
            if own:
                trains = any(p.requires_grad for p in own)
                assert module.training == trains, (
                    f'{what}: {name or "model"} training={module.training} '
                    f'with {"trainable" if trains else "frozen"} parameters')
    assert values is not None or checked[:2] == [-1, 0], checked


def check_norm_eval(factory: Factory, x: torch.Tensor) -> None:
    model = factory(norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(not m.training for m in bns)
    before = [m.running_mean.clone() for m in bns]
    model(x)
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, bns))


@contextlib.contextmanager
def forward_calls(model: nn.Module) -> Iterator[Dict[str, int]]:
    """Count the calls of every module that owns parameters, by name,
    while the block runs (recomputation in backward included)."""
    calls: Dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):
            calls[name] = 0

            def hook(mod, args, name=name):
                calls[name] += 1

            handles.append(module.register_forward_pre_hook(hook))
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def check_recomputes(plain: Dict[str, int], cp: Dict[str, int],
                     stage_parameters: Optional[List[Set[str]]] = None
                     ) -> None:
    """``cp`` (call counts with ``with_cp=True`` through forward and
    backward) recomputes: each module runs as often as without, or twice
    as often (checkpointed); some are; and, given each stage's parameter
    names, some in every stage that trains."""
    assert plain.keys() == cp.keys()
    recomputed = {n for n in plain if cp[n] == 2 * plain[n] > 0}
    odd = {n: (plain[n], cp[n]) for n in plain
           if n not in recomputed and cp[n] != plain[n]}
    assert not odd, f'calls (without, with with_cp): {odd}'
    assert recomputed, 'with_cp=True recomputed nothing in backward'
    for i, names in enumerate(stage_parameters or []):
        modules = {n.rsplit('.', 1)[0] if '.' in n else '' for n in names}
        assert modules & recomputed, f'stage {i}: nothing recomputed'


def check_with_cp(factory: Factory, x: torch.Tensor) -> None:
    """With gradient checkpointing, blocks really run again in backward
    (:func:`check_recomputes`), and outputs, gradients and BN running
    statistics equal the plain run's."""
    plain = factory()
    cp = factory(with_cp=True)
    cp.load_state_dict(plain.state_dict())
    results, counts = [], []
    for model in (plain, cp):
        model.train()
        inp = x.clone().requires_grad_(True)
        with forward_calls(model) as calls:
            outs = model(inp)
            sum(o.sum() for o in outs).backward()
        counts.append(dict(calls))
        results.append((outs, inp.grad,
                        {n: p.grad for n, p in model.named_parameters()},
                        model.state_dict()))
    check_recomputes(*counts)
    (o1, g1, p1, s1), (o2, g2, p2, s2) = results
    for a, b in zip(o1, o2):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(g1, g2)
    for name in p1:
        torch.testing.assert_close(p1[name], p2[name], msg=name)
    for name in s1:
        torch.testing.assert_close(s1[name], s2[name], msg=name)


def check_channels_last(model: nn.Module, x: torch.Tensor,
                        rtol: float = 1e-5,
                        batch_statistics_step: bool = True) -> None:
    """channels_last gives the contiguous results:

    * eval-mode outputs in float32 (the oneDNN kernels users run), within
      ``rtol`` of each tensor's largest magnitude (:func:`relative_error`);
    * a training step from the same state (copies), BatchNorm on its
      running statistics, in float64: outputs and every parameter gradient
      within 1e-9. float64 because float32 gradients of a small random
      network cancel: SqueezeNet's (no BN) differed by 7e-3 of their
      largest value between two correct layouts, float64 by 6e-16, so only
      float64 can tell a layout mistake from rounding (and costs the same
      at these sizes); BN on batch statistics over the 2 values of a 1x1
      map amplifies rounding as much (3e-2 on ResNet-18 at 32 px);
    * a full float32 training step in channels_last (batch statistics):
      every parameter gets a finite gradient (``batch_statistics_step``;
      the conformance suite's deterministic step is that step).

    ``model`` itself is left as it was (contiguous, eval mode).
    """
    model.eval()
    last = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x_last = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = model(x)
        with _contiguous_inputs(last) as found:
            outs = last(x_last)
    _assert_all_close(outs, ref, rtol, 'eval output')
    # Every layer stays in the format: an op that returns a contiguous
    # tensor makes the next convolution convert it back (ResNeSt's split
    # sum and ShuffleNet V1's channel shuffle did, and cost their speed).
    assert not found, f'channels_last model: contiguous input to {found[:5]}'
    steps = []
    for fmt in (torch.contiguous_format, torch.channels_last):
        net = copy.deepcopy(model).to(dtype=torch.float64,
                                      memory_format=fmt).train()
        for m in net.modules():  # stored statistics, no random masks
            if isinstance(m, (_BatchNorm, nn.modules.dropout._DropoutNd)):
                m.eval()
        outs = net(x.double().contiguous(memory_format=fmt))
        sum(o.square().mean() for o in outs).backward()
        steps.append(([o.detach() for o in outs],
                      [p.grad for p in net.parameters() if p.requires_grad]))
    (ref_outs, ref_grads), (outs, grads) = steps
    assert ref_grads and all(g is not None for g in ref_grads + grads)
    _assert_all_close(outs, ref_outs, 1e-9, 'float64 training output')
    _assert_all_close(grads, ref_grads, 1e-9, 'float64 gradient')
    if not batch_statistics_step:
        return
    sum(o.float().mean() for o in last.train()(x_last)).backward()
    bad = [n for n, p in last.named_parameters() if p.requires_grad and (
        p.grad is None or not torch.isfinite(p.grad).all())]
    assert not bad, f'channels_last training: no finite gradient {bad[:5]}'


@contextlib.contextmanager
def _contiguous_inputs(model: nn.Module):
    """Collects the names of the leaf modules that get a 4-d input laid
    out contiguous (NCHW) and not channels_last (more than one channel and
    pixel; a channel slice of a channels_last tensor is neither, and is
    not counted)."""
    found: List[str] = []

    def hook(name):
        def check(module, inputs):
            t = inputs[0] if inputs else None
            if (isinstance(t, torch.Tensor) and t.dim() == 4
                    and t.shape[1] > 1 and t.shape[2] * t.shape[3] > 1
                    and t.is_contiguous()):
                found.append(name)
        return check

    handles = [m.register_forward_pre_hook(hook(name))
               for name, m in model.named_modules()
               if not any(True for _ in m.children())]
    try:
        yield found
    finally:
        for h in handles:
            h.remove()


def _assert_all_close(got, expected, rtol, what):
    assert len(got) == len(expected), what
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == b.shape, (what, i, a.shape, b.shape)
        error = relative_error(a, b)
        assert error <= rtol, f'{what} {i}: relative error {error:.2e}'


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

    # frozen_stages and channels_last: tests/test_conformance.py runs the
    # same checks (check_frozen_values, check_channels_last) on every
    # registered form, so the family classes do not repeat them.

    def test_norm_eval(self):
        check_norm_eval(self.build, self.x())

    def test_with_cp(self):
        check_with_cp(
            lambda **kw: self.build(
                out_indices=(0, self.num_stages - 1), **kw), self.x())

    def test_registry_build_and_train_returns_self(self):
        from mmbackbones.registry import MODELS
        model = self.build()
        cfg = dict(self.registry_cfg or dict(type=type(model).__name__))
        cfg['type'] = f"mmbackbones.{cfg['type']}"
        assert type(MODELS.build(cfg)) is type(model)
        assert model.eval() is model and not model.training
        assert model.train() is model and model.training
