"""What tools/train.py, tools/test.py and the other tools share.

Every tool under ``tools/`` is a few-line shim over ``mmbackbones.cli.<tool>``
whose ``cli()`` runs the tool's ``main(argv)`` through :func:`run_tool`
(:func:`call_tool` returns the status instead of exiting). That is the one
exit-status rule of every tool:

* ``0`` (:data:`EXIT_OK`) -- done;
* ``2`` (:data:`EXIT_BAD_INPUT`) -- bad input, refused before anything was
  written, as one line ``PROG: error: ...`` on stderr and no traceback: a
  bad argument (argparse's errors included), config, checkpoint or
  dataset, a work dir in use, and a *refusal*: ``tools/deploy.py`` refuses
  to write a deploy model that is not equivalent to the checkpoint's (or
  has NaN/inf outputs), ``tools/convert_weights.py`` one that does not fit;
* ``3`` (:data:`EXIT_RUN_STOPPED`) -- a run that started and a check
  stopped (a non-finite loss, a rank that stopped answering);
* ``130`` / ``143`` -- interrupted by SIGINT / SIGTERM, one line;
* ``1`` -- anything else: a bug, with Python's traceback.

Which errors are which is stated once, by class, in ``mmbackbones.utils``:
every :class:`~mmbackbones.utils.ReportedError` is one line and its
``exit_code``. Bad input is an :class:`~mmbackbones.utils.InputError`
(here also called :class:`ToolError`), and so is each library error that
is the user's input (``CheckpointError``, ``WorkDirBusy``,
``DatasetError``, ``BadSampleError``, ``DeployError``); a stopped run is a
:class:`~mmbackbones.utils.RunStopped` (``NonFiniteLossError`` is one).
Every tool's CONFIG is a config file or a model name (``resnet50``, see
``mmbackbones.list_models()``), read by the one :func:`load_config`
(``mmbackbones.utils``).
"""
import argparse
import os.path as osp
import sys
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, DictAction

from mmbackbones.converters.base import describe_mismatch
from mmbackbones.engine.checkpoint import (CheckpointError,
                                           load_checkpoint_file)
# load_config is the tools' too (imported from here by them).
# Terminated / sigterm_as_exception are the tools' (SafeRunner raises
# Terminated again at hook points, so they live below the engine).
from mmbackbones.utils import (InputError, ReportedError,  # noqa: F401
                               RunStopped, Terminated, config_file,
                               load_config, sigterm_as_exception)

DEMO_COMMAND = 'python tools/train.py configs/demo/shufflenet_v2_digits.py'

IMAGENET_LAYOUT = """\
Lay out ImageNet-1k like this (class folders, or flat folders plus meta/
lists of "relative/path.JPEG label" lines):
  data/imagenet/
    train/n01440764/n01440764_10026.JPEG ...
    val/n01440764/ILSVRC2012_val_00000293.JPEG ...
    meta/train.txt, meta/val.txt   (optional)
or point the config elsewhere: --cfg-options data_root=/path/to/imagenet \
train_dataloader.dataset.data_root=/path/to/imagenet \
val_dataloader.dataset.data_root=/path/to/imagenet"""


#: The exit status of every tool under tools/ (README "Exit status").
EXIT_OK = 0
#: An unexpected error -- a bug: Python prints its traceback.
EXIT_FAILED = 1
#: Bad input, refused before anything was written: a bad argument, config,
#: checkpoint or dataset, a work dir in use, and a deploy refusal (the
#: deploy model is not equivalent to the checkpoint's: nothing written).
EXIT_BAD_INPUT = 2
#: A run that started and was stopped by a check: a non-finite loss, a rank
#: that stopped answering.
EXIT_RUN_STOPPED = 3
#: Interrupted by a signal: 128 + the signal number (SIGINT, SIGTERM).
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


#: A problem with the user's input, reported as one message (exit status
#: 2): the package's one error type for bad input, under the tools' name.
ToolError = InputError


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are a :class:`ToolError` (one line, exit 2)
    instead of the usage text plus a line; ``--help`` still prints it.
    Descriptions keep their line breaks (they are the tools' docstrings,
    with examples)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault('formatter_class',
                          argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise ToolError(f'{message} (see {self.prog} --help)')


def call_tool(main: Callable[[Optional[Sequence[str]]], Any],
              argv: Optional[Sequence[str]] = None,
              prog: Optional[str] = None,
              bad_input: Tuple[type, ...] = ()) -> int:
    """Run ``main(argv)`` and return the tool's exit status (see the
    ``EXIT_*`` constants): bad input is one line on stderr
    (``PROG: error: ...``) and 2; a stopped run 3; SIGINT 130 and SIGTERM
    143 with one line. Anything else is a bug and keeps its traceback.
    ``bad_input``: more exception types that are bad input for this tool
    (the analysis tools' ValueError for a bad model spec).

    Example:
        >>> call_tool(lambda argv: None, [])
        0
    """
    prog = prog or osp.basename(sys.argv[0])
    try:
        try:
            with sigterm_as_exception():
                main(argv)
        except Exception as err:
            # Library code that catches everything (mmengine turns any
            # exception while formatting the config for a checkpoint into
            # a SyntaxError) may replace the interruption with its own
            # error: the interruption is still what stopped the run.
            interruption = _interruption_behind(err)
            if interruption is None:
                raise
            raise interruption from None
    except KeyboardInterrupt:
        print(f'{prog}: interrupted (SIGINT)', file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated as err:
        print(f'{prog}: {err}', file=sys.stderr)
        return EXIT_TERMINATED
    except (ReportedError, ) + tuple(bad_input) as err:
        # A DataLoader worker re-raises its error with the worker's
        # traceback in the message: the line after the last 'Name: '.
        print(f'{prog}: error: {one_line(err)}', file=sys.stderr)
        return getattr(err, 'exit_code', EXIT_BAD_INPUT)
    return EXIT_OK


def _interruption_behind(err: BaseException) -> Optional[BaseException]:
    """The SIGINT/SIGTERM exception that ``err`` was raised while handling
    (its ``__context__``/``__cause__`` chain), or None."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, (KeyboardInterrupt, Terminated)):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def one_line(err: BaseException) -> str:
    """The message of ``err`` as a tool prints it: stripped, and where a
    DataLoader worker put its traceback in front (``...Name: message``),
    only what follows the last ``Name: ``; its type name when empty.

    Example:
        >>> one_line(ToolError('  bad --shape  '))
        'bad --shape'
    """
    text = str(err).strip()
    marker = f'{type(err).__name__}: '
    if '\n' in text and marker in text:
        text = text[text.rindex(marker) + len(marker):].strip()
        text = text.splitlines()[0] if text else ''
    return text or type(err).__name__


def run_tool(main: Callable[[Optional[Sequence[str]]], Any],
             argv: Optional[Sequence[str]] = None,
             prog: Optional[str] = None,
             bad_input: Tuple[type, ...] = ()) -> None:
    """:func:`call_tool`, then exit with its status (nonzero only)."""
    code = call_tool(main, argv, prog, bad_input)
    if code:
        sys.exit(code)


# --------------------------------------------------------------------- #
# Arguments that several tools take: declared and checked once here
# --------------------------------------------------------------------- #
def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum``; else
    argparse's one-line error ``argument --steps: must be a whole number
    >= 1, got 0``.

    Example:
        >>> at_least(1)('3')
        3
    """
    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(
                f'must be a whole number >= {minimum}, got {text!r}')
        return value

    return whole_number


def positive_float(text: str) -> float:
    """An argparse ``type``: a number above 0 (a tolerance).

    Example:
        >>> positive_float('1e-5')
        1e-05
    """
    try:
        value = float(text)
    except ValueError:
        value = float('nan')
    if not value > 0:  # NaN too
        raise argparse.ArgumentTypeError(
            f'must be a number above 0, got {text!r}')
    return value


def add_config_argument(parser, what: str = 'the config',
                        option: bool = False,
                        checkpoint: Optional[str] = None) -> None:
    """The CONFIG argument (a required ``--config`` with ``option=True``):
    a config file or a model name, read by :func:`load_config`; with
    ``checkpoint`` (its help) the CHECKPOINT argument after it."""
    names, extra = (['--config'], dict(required=True)) if option else (
        ['config'], {})
    parser.add_argument(*names, metavar='CONFIG', **extra,
                        help=f'{what}: a config file, or a model name of '
                        'mmbackbones.list_models() (e.g. resnet50)')
    if checkpoint:
        parser.add_argument('checkpoint', metavar='CHECKPOINT',
                            help=checkpoint)


def add_switches(parser, switches: dict) -> None:
    """On/off options (``store_true``): ``{'--check': help, ...}``."""
    for option, text in switches.items():
        parser.add_argument(option, action='store_true', help=text)


class _ImageSize(argparse.Action):
    """``--shape S`` or ``--shape H W`` (positive), stored as ``(H, W)``."""

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) not in (1, 2) or min(values) < 1:
            parser.error(f'{option_string} takes one or two positive '
                         f'sizes (S, or H W), got '
                         f'{" ".join(map(str, values))}')
        setattr(namespace, self.dest, tuple(values * (3 - len(values))))


def add_shape_option(parser, default: Optional[int], what: str) -> None:
    """``--shape S`` or ``--shape H W``: the input size, as ``(H, W)``
    (``(default, default)``; ``None`` when there is no default)."""
    shown = "the config's test crop" if default is None else default
    parser.add_argument(
        '--shape', type=int, nargs='+', action=_ImageSize, metavar='SIZE',
        default=None if default is None else (default, default),
        help=f'input height [width] {what} (default: {shown})')


def add_rtol_option(parser, default: float, what: str) -> None:
    """``--rtol``: the largest relative error a verification accepts."""
    parser.add_argument('--rtol', type=positive_float, default=default,
                        help=f'largest relative error accepted {what} '
                        f'(default: {default:g})')


def add_timing_options(parser, steps: int, warmup: int,
                       steps_option: str = '--steps') -> None:
    """What every speed tool takes: ``--threads``, the timed and warm-up
    steps per model (and memory format), ``--json``."""
    parser.add_argument('--threads', type=at_least(1), default=2,
                        help='torch intra-op threads (default: 2)')
    parser.add_argument(steps_option, type=at_least(1), default=steps,
                        help='timed steps per model and memory format '
                        f'(default: {steps})')
    parser.add_argument('--warmup', type=at_least(0), default=warmup,
                        help='untimed steps of each first (default: '
                        f'{warmup})')
    parser.add_argument('--json', metavar='FILE',
                        help='also write the results to FILE as JSON')


def add_cfg_options(parser) -> None:
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config values, e.g. '
        'train_dataloader.batch_size=32 model.backbone.widen_factor=0.5 '
        '(keys must exist in the config)')


def load_run_config(args) -> Config:
    """The config of a train/test run: ``--cfg-options`` applied, launcher
    and work dir (``--work-dir``, the config's, or work_dirs/<name>) set."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = (args.work_dir or cfg.get('work_dir')
                    or default_work_dir(args.config))
    return cfg


def check_run_config(cfg: Config, dataloaders: Sequence[str],
                     train: bool = False) -> None:
    """Refuse, in one message, a config that would crash deep inside the
    Runner or run nothing: no ``model`` dict, a non-positive or non-integer
    ``max_epochs`` / ``max_iters`` / ``val_interval`` (``max_epochs=-1``
    trained nothing and exited 0), a batch size below 1 or a negative
    ``num_workers``."""
    from mmbackbones.models.base import check_positive_int
    model = cfg.get('model')
    if not (hasattr(model, 'keys') and 'type' in model):
        raise ToolError(f"{cfg.filename}: the config's model must be a dict "
                        f"with a 'type' (the model to build), but it is "
                        f'{model!r}'[:300])
    checks = []
    if train:
        train_cfg = cfg.get('train_cfg')
        if not hasattr(train_cfg, 'keys'):
            raise ToolError(f'{cfg.filename}: train_cfg must be a dict, e.g. '
                            'dict(by_epoch=True, max_epochs=100), but it is '
                            f'{train_cfg!r}')
        checks += [(f'train_cfg.{key}', train_cfg[key], 1)
                   for key in ('max_epochs', 'max_iters', 'val_interval',
                               'val_begin')
                   if key in train_cfg]
    for name in dataloaders:
        loader = cfg.get(name)
        if not hasattr(loader, 'keys'):
            continue
        if 'batch_size' in loader:
            checks.append((f'{name}.batch_size', loader['batch_size'], 1))
        if 'num_workers' in loader:
            checks.append((f'{name}.num_workers', loader['num_workers'], 0))
    for key, value, minimum in checks:
        try:
            check_positive_int(key, value, minimum)
        except ValueError as err:
            raise ToolError(str(err)) from None


def _dataset_paths(dataset: dict) -> List[str]:
    """The files/folders a dataset config needs to exist."""
    root = dataset.get('data_root', '') or ''
    paths = [root] if root else []
    ann_file = dataset.get('ann_file', '') or ''
    if ann_file:
        paths.append(ann_file if osp.isabs(ann_file) else osp.join(
            root, ann_file))
    prefix = dataset.get('data_prefix', '') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get('img_path', '') or ''
    split = dataset.get('split', '') or ''
    sub = prefix or split
    if sub:
        paths.append(sub if osp.isabs(sub) else osp.join(root, sub))
    return paths


def check_datasets(cfg: Config, dataloaders: Sequence[str]) -> None:
    """Stop with one message when a dataloader's data is not on disk."""
    for name in dataloaders:
        loader = cfg.get(name)
        if not loader or 'dataset' not in loader:
            continue
        dataset = loader['dataset']
        while 'dataset' in dataset:  # wrappers (RepeatDataset, ...)
            dataset = dataset['dataset']
        for path in _dataset_paths(dataset):
            if path and not osp.exists(path):
                dtype = dataset.get('type')
                type_name = getattr(dtype, '__name__', str(dtype))
                message = f'{name}: dataset path {path!r} does not exist.'
                if type_name == 'ImageNet':
                    message += '\n' + IMAGENET_LAYOUT
                message += ('\nTo try mmbackbones without downloading '
                            f'anything, run the demo:\n  {DEMO_COMMAND}')
                raise ToolError(message)


def check_checkpoint_arg(path: Optional[str], what: str) -> None:
    # A URL (http://, open-mmlab://, ...) is read by mmengine's scheme
    # loaders, which mmbackbones replaces with safe ones; only local paths
    # can be checked up front.
    if path and '://' not in path and not osp.isfile(path):
        raise ToolError(f'{what}: checkpoint file not found: {path}')


def default_work_dir(config_path: str) -> str:
    name = osp.splitext(osp.basename(config_path))[0]
    return osp.join('work_dirs', name)


def checkpoint_fits(model: torch.nn.Module, path: str) -> dict:
    """Read a checkpoint safely and check that its ``state_dict`` has exactly
    the model's keys and shapes; returns that state dict, or raises
    ToolError naming the first mismatched keys."""
    from mmengine.model import is_model_wrapper
    checkpoint = load_checkpoint_file(path)
    state = checkpoint.get('state_dict', checkpoint)
    if is_model_wrapper(model):
        model = model.module
    problem = describe_mismatch(state, model.state_dict())
    if problem:
        raise ToolError(f'{path} does not fit the model of this config: '
                        f'{problem}')
    return state
