"""End-to-end speed: what ``tools/train.py`` (and the deploy form) give a
user, against the reference implementation, side by side.

``--mode train`` (default): the full training iteration,
``model.train_step(data, optim_wrapper)`` -- data preprocessor
(normalisation, batching, Mixup as the config sets it), backbone, neck,
head, loss, backward and optimizer step -- of

* **ours**: the classifier and optimizer wrapper that ``tools/train.py``
  builds from CONFIG (the same ``configure_speed`` + ``build_runner``:
  the family's default memory format, ``--amp``, ``--compile``);
* **the reference**: the same classifier with the backbone replaced by the
  reference implementation's (``--against mmpretrain``: mmpretrain's own
  registry type, the default where mmpretrain has the family;
  ``timm``/``torchvision``: their model, driven through the same train
  step), mmpretrain's default path: contiguous fp32 eager, plain
  ``OptimWrapper`` from mmengine's default constructor (one parameter
  group per parameter). ``--against self`` compares ours with ours
  contiguous fp32 eager (how ``mmbackbones/analysis/memory_format.py``
  was measured: what the memory format or ``--amp`` alone is worth).

Both get the same in-memory uint8 batches and are stepped in turn
(``mmbackbones.analysis.timing``: interleaved, the order reversed every
round); it prints images/s of each and the ratio of medians (>1: ours is
faster). Against another implementation each side runs in a process of its
own (``--processes separate``, the default), set up as its own
``tools/train.py`` sets a process up: ours with ``--allocator``
(``mmbackbones/engine/allocator.py``), the reference as Python starts --
only one of them runs at a time. ``--processes one`` (the default for
``--against self``) puts both in this process, which then measures the
in-process levers alone (the allocator is per process).

``--mode infer``: batch-1 latency and batch-32 throughput of our deploy
form (``mmbackbones.deploy.convert_to_deploy``, what tools/deploy.py
writes) in the run's memory format against the reference's eager model
(eval, contiguous fp32).

Examples::

    OMP_WAIT_POLICY=PASSIVE python tools/analysis/train_speed.py \\
        configs/resnet.py --batch-size 8 --shape 160
    python tools/analysis/train_speed.py configs/resnet.py --amp --compile
    python tools/analysis/train_speed.py configs/vovnet.py --mode infer
"""
import argparse
import copy
import inspect
import json
import os
import tempfile
from contextlib import nullcontext
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmbackbones.analysis.timing import compare, time_interleaved

#: Families mmpretrain has (same registry type and arguments as ours).
MMPRETRAIN_FAMILIES = (
    'CSPDarkNet', 'DenseNet', 'EfficientNet', 'HRNet', 'InceptionV3',
    'MobileNetV2', 'MobileNetV3', 'Res2Net', 'ResNeSt', 'ResNeXt', 'ResNet',
    'RepVGG', 'SEResNet', 'ShuffleNetV1', 'ShuffleNetV2', 'VGG')

#: The timm / torchvision / pretrainedmodels equivalent of each family's
#: default variant (``configs/<family>.py``); ``--reference`` for others.
OTHER_REFERENCES = {
    'BNInception': 'pretrainedmodels:bninception',
    'CSPDarkNet': 'timm:cspdarknet53',
    'Darknet': 'timm:darknet53',
    'DenseNet': 'torchvision:densenet121',
    'EfficientNet': 'torchvision:efficientnet_b0',
    'GoogLeNet': 'torchvision:googlenet:aux_logits=False,init_weights=True',
    'HRNet': "timm:hrnet_w18:head=''",
    'InceptionResNetV2': 'timm:inception_resnet_v2',
    'InceptionV3': 'torchvision:inception_v3:aux_logits=False,'
                   'init_weights=False',
    'InceptionV4': 'timm:inception_v4',
    'MobileNetV1': 'timm:mobilenetv1_100',
    'MobileNetV2': 'torchvision:mobilenet_v2',
    'MobileNetV3': 'torchvision:mobilenet_v3_large',
    'RepVGG': 'timm:repvgg_a0',
    'ResNeXt': 'torchvision:resnext50_32x4d',
    'ResNet': 'torchvision:resnet50',
    'ResNetV2': 'timm:resnetv2_50',
    'ShuffleNetV2': 'torchvision:shufflenet_v2_x1_0',
    'SqueezeNet': 'torchvision:squeezenet1_0',
    'VGG': 'torchvision:vgg16_bn',
    'VoVNet': 'timm:ese_vovnet39b',
}


def backbone_type(cfg) -> str:
    """The registry name of the config's backbone (``'ResNet'``)."""
    kind = cfg.model.backbone['type']
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
    return name.split('.')[-1]


def default_reference(family: str, against: str) -> str:
    """The reference SPEC for ``--against`` (see the module doc).

    Raises:
        ValueError: no reference known; the message says what to pass.
    """
    if against in ('auto', 'mmpretrain') and family in MMPRETRAIN_FAMILIES:
        return f'mmpretrain:{family}'
    if against in ('auto', 'timm', 'torchvision') or \
            against == 'mmpretrain':
        spec = OTHER_REFERENCES.get(family)
        if spec and (against in ('auto', 'mmpretrain')
                     or spec.startswith(against + ':')):
            return spec
    raise ValueError(f'no {against} reference is known for {family}; pass '
                     '--reference SOURCE:NAME[:KWARGS] (see '
                     'tools/analysis/benchmark.py --help)')


class _AsTuple(nn.Module):
    """A reference backbone whose output is a tuple, like ours (the neck
    and head index the last feature map)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        out = self.module(x)
        return out if isinstance(out, (tuple, list)) else (out, )


def _shapes(outputs) -> List[Tuple[int, ...]]:
    outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    return [tuple(o.shape[1:]) for o in outputs]


def build_reference_backbone(spec: str, cfg, ours: nn.Module,
                             shape: int) -> nn.Module:
    """The reference backbone for SPEC, checked to give the feature shapes
    our backbone gives at ``shape`` (so the same neck and head fit).

    ``mmpretrain:TYPE`` takes the config's backbone arguments.
    """
    from mmbackbones.analysis.references import build_reference, parse_spec
    source, name, kwargs = parse_spec(spec)
    if source == 'mmpretrain':
        import mmpretrain.models  # noqa: F401  (registers the backbones)
        from mmpretrain.registry import MODELS
        # Our arguments that mmpretrain's class lacks (e.g. InceptionV3's
        # aux_taps, which only feed our auxiliary head) are left out; the
        # shape check below catches a different variant.
        accepts = inspect.signature(MODELS.get(name)).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in accepts.values())
        args = {k: v for k, v in cfg.model.backbone.items()
                if k != 'type' and (takes_any or k in accepts)}
        reference = MODELS.build(dict(type=name, **copy.deepcopy(
            dict(args)), **kwargs))
    else:
        reference = _AsTuple(build_reference(spec))
    x = torch.rand(1, 3, shape, shape)
    with torch.no_grad():
        want = _shapes(ours.eval()(x))[-1:]
        got = _shapes(reference.eval()(x))[-1:]
    if want != got:
        raise ValueError(f'the reference {spec} gives features {got}, ours '
                         f'{want} (at {shape} px): not the same variant; '
                         'pass --reference for this config')
    return reference


# --------------------------------------------------------------------- #
# The two training set-ups
# --------------------------------------------------------------------- #
def build_ours(config: str, cfg_options: Optional[dict], work_dir: str,
               amp: bool, compile_backend: Optional[str],
               memory_format: Optional[str]) -> Tuple[Any, Any, Any]:
    """(runner, model, optim_wrapper) exactly as tools/train.py sets them
    up: ``configure_speed`` then ``build_runner`` (which compiles the
    model's parts for ``--compile``); the optimizer wrapper as
    ``Runner.train()`` builds it."""
    from .common import load_config
    from .runner import build_runner
    from .train import configure_speed
    cfg = load_config(config, cfg_options)
    cfg.launcher, cfg.work_dir, cfg.log_level = 'none', work_dir, 'WARNING'
    # mmengine keeps one Visualizer per experiment name (config name +
    # timestamp, to the second): two runners built in the same second would
    # share the first one's, and its vis_data folder in a deleted temp dir.
    cfg.experiment_name = 'train_speed' + work_dir.replace(os.sep, '_')
    configure_speed(cfg, amp, compile_backend, memory_format)
    runner = build_runner(cfg)
    # --compile: build_runner compiled the model's parts (compile_model).
    runner.optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    return runner, runner.model, runner.optim_wrapper


def build_reference_classifier(config: str, cfg_options: Optional[dict],
                               spec: str, ours: nn.Module,
                               shape: int) -> Tuple[nn.Module, Any]:
    """The config's classifier (neck, head, loss, Mixup, plain
    ``ClsDataPreprocessor``) around the reference backbone, contiguous fp32
    eager, with a plain ``OptimWrapper`` of the config's optimizer."""
    from mmengine.optim import build_optim_wrapper

    from mmbackbones.registry import MODELS
    from .common import load_config
    cfg = load_config(config, cfg_options)
    model_cfg = copy.deepcopy(cfg.model)
    if 'data_preprocessor' not in model_cfg and \
            cfg.get('data_preprocessor') is not None:
        # As mmengine's Runner does.
        model_cfg['data_preprocessor'] = copy.deepcopy(cfg.data_preprocessor)
    _main_head_only(model_cfg)
    model = MODELS.build(model_cfg)
    model.backbone = build_reference_backbone(spec, cfg, ours.backbone,
                                                  shape)
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    wrapper_cfg['type'] = 'OptimWrapper'
    for key in ('dtype', 'loss_scale'):
        wrapper_cfg.pop(key, None)
    return model, build_optim_wrapper(model, wrapper_cfg)


def _main_head_only(model_cfg) -> None:
    """A recipe whose auxiliary classifiers read tapped maps
    (``AuxClsHead``: GoogLeNet, Inception v3) gets, on the reference side,
    its main classifier alone, as mmpretrain's Inception v3 recipe and
    torchvision's ``aux_logits=False`` models train: the reference backbone
    has no taps. Ours keeps its auxiliary classifiers (more work on our
    side)."""
    head = model_cfg['head']
    kind = head['type'] if isinstance(head['type'], str) else \
        head['type'].__name__
    if kind.split('.')[-1] != 'AuxClsHead':  # also 'mmbackbones.AuxClsHead'
        return
    plain = dict(num_classes=head['num_classes'], loss=head['loss'],
                 topk=head.get('topk', (1, )))
    if head.get('in_channels') is None:  # the backbone gives the logits
        model_cfg['head'] = dict(type='ClsHead', loss=plain['loss'],
                                 topk=plain['topk'])
    else:  # pooled and classified as AuxClsHead's main branch does
        model_cfg['neck'] = dict(type='GlobalAveragePooling')
        model_cfg['head'] = dict(type='LinearClsHead',
                                 in_channels=head['in_channels'], **plain)


def make_batches(count: int, batch_size: int, shape: int,
                 num_classes: int, seed: int = 0) -> List[dict]:
    """In-memory batches as the dataloader hands them over: uint8 CHW
    images and data samples with a label."""
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        images = [torch.randint(0, 256, (3, shape, shape), generator=gen,
                                dtype=torch.uint8)
                  for _ in range(batch_size)]
        labels = torch.randint(0, num_classes, (batch_size, ), generator=gen)
        samples = [DataSample().set_gt_label(int(k)) for k in labels]
        batches.append(dict(inputs=images, data_samples=samples))
    return batches


def train_step(model: nn.Module, optim_wrapper,
               batches: Sequence[dict]) -> Callable[[], None]:
    """One full training iteration per call, cycling through
    ``batches``."""
    model.train()
    state = dict(i=0)

    def step():
        batch = batches[state['i'] % len(batches)]
        state['i'] += 1
        losses = model.train_step(copy.copy(batch), optim_wrapper)
        if not all(torch.isfinite(v).all() for v in losses.values()):
            raise RuntimeError(f'non-finite loss: {losses}')

    return step


# --------------------------------------------------------------------- #
# Inference: deploy form vs the reference's eager model
# --------------------------------------------------------------------- #
def infer_step(model: nn.Module, x: torch.Tensor,
               autocast: bool) -> Callable[[], None]:
    model.eval()

    def step():
        ctx = (torch.autocast('cpu', dtype=torch.bfloat16) if autocast else
               nullcontext())
        with torch.no_grad(), ctx:
            model(x)

    return step


def deploy_form(model: nn.Module, memory_format: str, shape: int,
                compile_backend: Optional[str]) -> nn.Module:
    """Our classifier in deploy form (tools/deploy.py's conversion) in
    ``memory_format``; compiled with ``compile_backend`` if given."""
    from mmbackbones.deploy import convert_to_deploy
    from mmbackbones.engine import to_memory_format
    model = copy.deepcopy(model).eval()
    to_memory_format(model, 'contiguous')
    convert_to_deploy(model, torch.rand(1, 3, shape, shape))
    to_memory_format(model, memory_format)
    if compile_backend:
        model = torch.compile(model, backend=compile_backend)
    return model


# --------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------- #
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmbackbones.engine import MEMORY_FORMATS
    from mmbackbones.engine.allocator import ALLOCATORS
    from .common import (ArgumentParser, add_cfg_options, add_config_argument,
                         add_timing_options, at_least)
    parser = ArgumentParser(prog='train_speed.py', description=__doc__)
    add_config_argument(parser, 'ours')
    parser.add_argument(
        '--against', default='auto',
        choices=('auto', 'mmpretrain', 'timm', 'torchvision', 'self'),
        help='the reference: auto (default) = mmpretrain where it has the '
        'family, else timm/torchvision; self = ours contiguous fp32 eager')
    parser.add_argument('--reference', metavar='SPEC',
                        help='a reference backbone SPEC instead (see '
                        'tools/analysis/benchmark.py --help)')
    # Ours is built as tools/train.py builds it with these options.
    for option, extra in (('--amp', dict(action='store_true')),
                          ('--compile', dict(nargs='?', const='inductor',
                                             metavar='BACKEND')),
                          ('--memory-format', dict(
                              choices=('auto', ) + MEMORY_FORMATS,
                              default=None))):
        parser.add_argument(option, **extra,
                            help=f"ours with tools/train.py's {option}")
    parser.add_argument(
        '--allocator', choices=ALLOCATORS, default='tuned',
        help="ours with tools/train.py's --allocator (with --processes "
        'separate; the reference\'s process is left as Python starts it)')
    parser.add_argument(
        '--processes', choices=('one', 'separate'), default=None,
        help='separate (the default for --mode train against another '
        'implementation): ours and the reference each in its own process, '
        'set up as its tools/train.py sets it up, stepped in turn; one: '
        'both in this process (the default for --against self and --mode '
        'infer), which leaves the allocator as Python started it')
    parser.add_argument('--mode', choices=('train', 'infer'),
                        default='train')
    parser.add_argument('--batch-size', type=at_least(1), default=8,
                        help='train batch size (default 8; infer measures '
                        'batch 1 and --infer-batch)')
    parser.add_argument('--infer-batch', type=at_least(1), default=32)
    parser.add_argument('--shape', type=at_least(1), default=160,
                        help='image height and width (default 160)')
    add_timing_options(parser, steps=8, warmup=2, steps_option='--rounds')
    add_cfg_options(parser)
    return parser.parse_args(argv)


def _params(model: nn.Module) -> int:
    """Backbone parameters (the neck and head are the same on both
    sides)."""
    model = getattr(model, 'module', model)
    return sum(p.numel() for p in model.backbone.parameters())


def _describe(runner) -> str:
    cfg = runner.cfg
    kind = cfg.optim_wrapper.get('type', 'OptimWrapper')
    parts = [cfg.get('memory_format', 'contiguous'),
             getattr(kind, '__name__', kind)]
    if cfg.get('compile_model'):
        parts.append(
            f'compile({cfg.compile_model.get("backend", "inductor")})')
    return ', '.join(str(p) for p in parts)


def _spec(args, family: str) -> str:
    return args.reference or ('self' if args.against == 'self' else
                              default_reference(family, args.against))


def _processes(args) -> str:
    """``--processes`` resolved: ``separate`` for a training comparison
    with another implementation, ``one`` for ``--against self`` (only the
    flag differs) and ``--mode infer``."""
    if args.processes == 'separate' and args.mode != 'train':
        raise ValueError('--processes separate is for --mode train; the '
                         'deploy form is timed in one process')
    if args.processes:
        return args.processes
    return ('separate' if args.mode == 'train' and args.against != 'self'
            and args.reference != 'self' else 'one')


def _build_sides(args, work_dir: str, sides=('ours', 'reference')):
    """``{side: (model, optim_wrapper)}`` for the sides asked for, the
    settings of the run, and our runner."""
    # A process of the reference alone builds ours only to check shapes:
    # not compiled (the check would compile it) and not under autocast.
    alone = 'ours' not in sides
    runner, ours, ours_wrapper = build_ours(
        args.config, args.cfg_options, work_dir, args.amp and not alone,
        None if alone else args.compile, args.memory_format)
    family = backbone_type(runner.cfg)
    spec = _spec(args, family)
    built = dict(ours=(ours, ours_wrapper))
    if 'reference' in sides:
        if spec == 'self':
            # Ours, contiguous fp32 eager: what a flag alone is worth.
            _, reference, ref_wrapper = build_ours(
                args.config, args.cfg_options,
                os.path.join(work_dir, 'self'), False, None, 'contiguous')
        else:
            reference, ref_wrapper = build_reference_classifier(
                args.config, args.cfg_options, spec, ours, args.shape)
        built['reference'] = (reference, ref_wrapper)
    setting = dict(config=args.config, family=family, reference=spec,
                   ours=_describe(runner), mode=args.mode, shape=args.shape,
                   threads=args.threads, rounds=args.rounds,
                   warmup=args.warmup, torch=torch.__version__,
                   cpu=torch.backends.cpu.get_cpu_capability(),
                   native_bf16=bool(
                       torch.ops.mkldnn._is_mkldnn_bf16_supported()),
                   load=os.getloadavg()[0],
                   params={side: _params(model)
                           for side, (model, _) in built.items()})
    return {k: v for k, v in built.items() if k in sides}, setting, runner


def main(argv: Optional[Sequence[str]] = None) -> dict:
    import mmbackbones  # noqa: F401
    args = parse_args(argv)
    if _processes(args) == 'separate':
        result = _measure_train_separate(args)
    else:
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        with tempfile.TemporaryDirectory(prefix='train_speed_') as work_dir:
            built, setting, runner = _build_sides(args, work_dir)
            setting.update(processes='one', allocator='as Python started')
            if args.mode == 'train':
                steps = {side: train_step(model, wrapper,
                                          _batches(args, runner))
                         for side, (model, wrapper) in built.items()}
                result = _train_result(args, time_interleaved(
                    steps, args.warmup, args.rounds))
            else:
                result = _measure_infer(args, built['ours'][0],
                                        built['reference'][0], runner)
            if hasattr(runner, 'release_work_dir'):  # SafeRunner's lock
                runner.release_work_dir()
        result = dict(settings=setting, **result)
    _print(result)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    return result


def _batches(args, runner) -> List[dict]:
    num_classes = runner.cfg.model.head.get('num_classes', 1000)
    return make_batches(4, args.batch_size, args.shape, num_classes)


def _train_result(args, runs) -> dict:
    versus = compare(runs['reference'], runs['ours'])
    return dict(
        batch_size=args.batch_size,
        ours_images_per_s=runs['ours'].per_second(args.batch_size),
        reference_images_per_s=runs['reference'].per_second(
            args.batch_size),
        ours_median_ms=1e3 * runs['ours'].median,
        reference_median_ms=1e3 * runs['reference'].median,
        # reference time / our time: >1 means ours is faster.
        speedup=versus['ratio'], fastest_speedup=versus['fastest_ratio'])


# --------------------------------------------------------------------- #
# --processes separate: each side in its own process, stepped in turn
# --------------------------------------------------------------------- #
def _side_process(conn, args, side: str) -> None:
    """One side of the comparison in a process of its own, set up as its
    own tools/train.py sets a process up -- ours with ``--allocator``
    (:func:`~mmbackbones.engine.allocator.tune_allocator`, before anything
    is built), the reference as Python starts -- then one training step
    per ``'step'`` message until ``'stop'``."""
    try:
        from mmbackbones.engine.allocator import tune_allocator
        allocator = tune_allocator(args.allocator if side == 'ours' else
                                   'default')
        import mmbackbones  # noqa: F401
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        with tempfile.TemporaryDirectory(prefix='train_speed_') as work_dir:
            built, setting, runner = _build_sides(args, work_dir, (side, ))
            step = train_step(*built[side], _batches(args, runner))
            if hasattr(runner, 'release_work_dir'):
                runner.release_work_dir()
            setting['allocator'] = allocator
            conn.send(('ready', setting))
            while conn.recv() == 'step':
                step()
                conn.send(('done', None))
    except Exception as err:  # the parent raises it, naming the side
        conn.send(('error', (type(err).__name__, f'{side} process: {err}')))
    finally:
        conn.close()


def _reply(conn, side: str):
    try:
        tag, value = conn.recv()
    except EOFError:
        raise RuntimeError(f'the {side} process ended without a reply '
                           '(killed? out of memory?)') from None
    if tag == 'error':
        kind, message = value
        # Bad input (an unknown or mismatched reference) stays a ValueError.
        raise (ValueError if kind == 'ValueError' else RuntimeError)(
            message if kind == 'ValueError' else f'{kind}: {message}')
    return value


def _measure_train_separate(args) -> dict:
    """Ours and the reference each in a process of its own, stepped in
    turn by this one (``run_interleaved``: only one of them runs at a
    time; a step's time includes a pipe round trip, ~0.1 ms)."""
    import multiprocessing

    from .common import load_config
    # An unknown reference is refused before any process starts.
    _spec(args, backbone_type(load_config(args.config, args.cfg_options)))
    context = multiprocessing.get_context('spawn')
    sides = {}

    def remote(side):

        def step():
            sides[side][1].send('step')
            _reply(sides[side][1], side)

        return step

    try:
        for side in ('ours', 'reference'):  # both start up at once
            parent, child = context.Pipe()
            proc = context.Process(target=_side_process,
                                   args=(child, args, side), daemon=True)
            proc.start()
            child.close()
            sides[side] = (proc, parent)
        settings = {side: _reply(conn, side)
                    for side, (_, conn) in sides.items()}
        runs = time_interleaved({side: remote(side) for side in sides},
                                args.warmup, args.rounds)
    finally:
        for proc, conn in sides.values():
            try:
                conn.send('stop')
            except OSError:
                pass
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    setting = settings['ours']
    setting['params'].update(settings['reference']['params'])
    setting.update(processes='separate', load=os.getloadavg()[0],
                   allocator={side: settings[side]['allocator']
                              for side in sides})
    return dict(settings=setting, **_train_result(args, runs))


def _measure_infer(args, ours, reference, runner) -> dict:
    from mmbackbones.engine import to_memory_format
    memory_format = runner.cfg.get('memory_format', 'contiguous')
    deployed = deploy_form(ours, memory_format, args.shape, args.compile)
    to_memory_format(reference, 'contiguous')
    result = {}
    for batch in (1, args.infer_batch):
        x = torch.rand(batch, 3, args.shape, args.shape)
        runs = time_interleaved(
            dict(ours=infer_step(deployed, x.contiguous(
                memory_format=torch.channels_last if memory_format ==
                'channels_last' else torch.contiguous_format), args.amp),
                 reference=infer_step(reference, x, False)),
            args.warmup, args.rounds)
        versus = compare(runs['reference'], runs['ours'])
        result[f'batch_{batch}'] = dict(
            ours_ms=1e3 * runs['ours'].median,
            reference_ms=1e3 * runs['reference'].median,
            ours_images_per_s=runs['ours'].per_second(batch),
            reference_images_per_s=runs['reference'].per_second(batch),
            speedup=versus['ratio'], fastest_speedup=versus['fastest_ratio'])
    return result


def _processes_text(s: dict) -> str:
    if s.get('processes') != 'separate':
        return 'one process'
    ours = s['allocator']['ours']
    return ('separate processes, ours with allocator keep_freed_memory='
            f'{ours["keep_freed_memory"]}, huge_pages={ours["huge_pages"]}')


def _print(result: dict) -> None:
    s = result['settings']
    print(f'{s["mode"]} | {s["config"]} ({s["family"]}) | ours: '
          f'{s["ours"]} | reference: {s["reference"]} (contiguous fp32 '
          f'eager) | {s["shape"]} px, {s["threads"]} threads, median of '
          f'{s["rounds"]} interleaved steps after {s["warmup"]} warm-up | '
          f'CPU {s["cpu"]}, native bf16 {s["native_bf16"]}, load '
          f'{s["load"]:.1f} | {_processes_text(s)} | backbone params ours '
          f'{s["params"]["ours"]:,}, reference {s["params"]["reference"]:,}')
    rows = ([('train', result)] if s['mode'] == 'train' else
            [(k, v) for k, v in result.items() if k.startswith('batch_')])
    for name, row in rows:
        print(f'{name:<9} ours {row["ours_images_per_s"]:8.2f} img/s   '
              f'reference {row["reference_images_per_s"]:8.2f} img/s   '
              f'speed-up {row["speedup"]:.3f}x (fastest steps '
              f'{row["fastest_speedup"]:.3f}x)')


def cli(argv: Optional[Sequence[str]] = None) -> None:
    from .common import run_tool

    # An unknown reference or a mismatched variant: bad input, exit 2.
    run_tool(main, argv, prog='train_speed.py', bad_input=(ValueError, ))
