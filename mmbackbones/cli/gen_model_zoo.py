"""``python tools/gen_model_zoo.py [--check] [--recount] [--no-plot]``:
regenerate docs/model_zoo.md and docs/model_zoo.png from the configs and
docs/model_zoo_data.yaml (``mmbackbones.analysis.model_zoo`` computes the
page; this is its command line).

Exit status: 0 done (``--check``: the committed page is up to date), 1
``--check`` found the page out of date (:class:`PageOutOfDate`, one line:
what CI reads), 2 bad input (the rule of every tool,
``mmbackbones.cli.common``).
"""
import argparse
import os.path as osp
from typing import List, Optional

from mmbackbones.analysis import model_zoo
from .common import (ArgumentParser, ReportedError, add_switches, at_least,
                     run_tool)


class PageOutOfDate(ReportedError):
    """``--check``: docs/model_zoo.md is not what the configs and the data
    file give (the message says what to run)."""
    exit_code = 1


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(prog='gen_model_zoo.py', description=__doc__)
    add_switches(parser, {
        '--check': 'write nothing; exit 1 if docs/model_zoo.md is not what '
        'the configs and data file give',
        '--recount': 'count every config again, not only changed ones',
        '--no-plot': 'do not redraw docs/model_zoo.png'})
    parser.add_argument('--measure-latency', nargs='*', metavar='CONFIG',
                        help='time the deploy form of these configs (names '
                        'as in the page; none: every config with a '
                        'published top-1) and store the latencies')
    parser.add_argument('--latency-steps', type=at_least(1), default=3,
                        help='timed steps per model and format (default 3)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Regenerate the page (see the module docstring); returns 0.

    Raises:
        PageOutOfDate: ``--check`` and the committed page is stale.
    """
    args = parse_args(argv)
    result = model_zoo.generate(args.recount, log=print)
    if args.measure_latency is not None and not args.check:
        result['measured']['latency'] = model_zoo.record_latencies(
            args.measure_latency, result, args.latency_steps, argv)
        result['text'] = model_zoo.render(result['facts'], result['data'],
                                          result['measured'])
    page = osp.relpath(model_zoo.DOC_FILE, model_zoo.ROOT)
    if args.check:
        with open(model_zoo.DOC_FILE) as f:
            same = f.read() == result['text']
        stale = result['counted']
        if same and not stale:
            print(f'{page} is up to date')
            return 0
        raise PageOutOfDate(
            f'{page} is out of date'
            + (f' (configs changed: {stale})' if stale else '')
            + f'; run {model_zoo.GENERATE_COMMAND}')
    model_zoo.write_json(model_zoo.MEASURED_FILE, result['measured'])
    model_zoo.write_atomic(model_zoo.DOC_FILE, result['text'].encode())
    print(f'wrote {page} ({len(result["facts"])} configs)')
    if not args.no_plot:
        model_zoo.plot(result['facts'], result['data'], result['measured'])
        print(f'wrote {osp.relpath(model_zoo.PLOT_FILE, model_zoo.ROOT)}')
    return 0


def cli(argv: Optional[List[str]] = None) -> None:
    # ValueError: the data file lacks or has extra configs, an unknown
    # --measure-latency name (bad input, exit 2).
    run_tool(main, argv, prog='gen_model_zoo.py', bad_input=(ValueError, ))
