"""The benchmarks' command line: each measures the harness side by side, in one session, with what a user would
otherwise run, and writes its figures under reports/bench/.

    python -m benchmarks training [--model basic_dnn] [--epochs 8]     make bench [BENCH_MODEL=simple]
    python -m benchmarks suite [--jobs 2] [--rounds 1]                  make bench-suite
    python -m benchmarks index [--runs 10000]                           make bench-index [RUNS=10000]
    python -m benchmarks tuning [--trials 12] [--jobs 2]                make bench-tuning
    python -m benchmarks data [--sizes 10000 100000]                    make bench-data

The benchmarks live beside the harness, not in it: `harness/` holds what a user runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.errors import UserError
from harness.native_logs import filter_native_logs


def _training(args: argparse.Namespace) -> Path:
    if args.epochs < 1 or args.samples < 1:
        raise UserError("--epochs and --samples must be at least 1")
    from benchmarks.training import run_bench

    return run_bench(args.model, args.epochs, args.samples, args.experiments_dir, args.reports_dir)


def _suite(args: argparse.Namespace) -> Path:
    if args.rounds < 1:
        raise UserError("--rounds must be at least 1")
    from benchmarks.suite import run_bench_suite

    return run_bench_suite(args.experiments_dir, args.reports_dir, args.dataset, args.jobs, args.rounds)


def _index(args: argparse.Namespace) -> Path:
    if args.runs < 10 or args.repeats < 1:
        raise UserError("--runs must be at least 10 and --repeats at least 1")
    from benchmarks.index import run_bench_index

    return run_bench_index(args.experiments_dir, args.reports_dir, args.runs, args.repeats)


def _tuning(args: argparse.Namespace) -> Path:
    if min(args.trials, args.jobs, args.max_epochs) < 1:
        raise UserError("--trials, --jobs and --max-epochs must be at least 1")
    from benchmarks.tuning import run_bench_tuning

    return run_bench_tuning(
        args.experiments_dir, args.reports_dir, args.dataset, args.trials, args.jobs, args.max_epochs
    )


def _data(args: argparse.Namespace) -> Path:
    from benchmarks.data import run_bench_data

    return run_bench_data(args.reports_dir, args.sizes, args.rows, args.epochs, args.batch_size)


def _arguments(commands, folders: argparse.ArgumentParser) -> None:
    training = commands.add_parser(
        "training", parents=[folders], help="the training path against the reference notebook's, per epoch"
    )
    training.add_argument("--model", default=os.environ.get("BENCH_MODEL", "basic_dnn"), help="a builder or experiment")
    training.add_argument("--epochs", type=int, default=8, help="timed epochs (rounds), after one warm-up epoch")
    training.add_argument("--samples", type=int, default=60_000, help="training images per epoch")
    suite = commands.add_parser(
        "suite", parents=[folders], help="the reference notebook's code for its ten experiments against make all"
    )
    suite.add_argument("--dataset", default="fashion_mnist", help="fashion_mnist (default) or mnist")
    suite.add_argument("--jobs", type=int, help="workers for make all (default: make all's default)")
    suite.add_argument("--rounds", type=int, default=1, help="pairs of timed commands, the reference code first")
    index = commands.add_parser("index", parents=[folders], help="the index's refresh at many runs")
    index.add_argument("--runs", type=int, default=10_000, help="run directories to make (default 10,000)")
    index.add_argument("--repeats", type=int, default=5, help="timings of each kind of refresh (median)")
    tuning = commands.add_parser(
        "tuning", parents=[folders], help="KerasTuner's introduction against the harness's sweep"
    )
    tuning.add_argument("--dataset", default="fashion_mnist", help="fashion_mnist (default; digits for a quick try)")
    tuning.add_argument("--trials", type=int, default=12, help="the harness's TPE trials (default 12)")
    tuning.add_argument("--jobs", type=int, default=2, help="the harness's workers (default 2)")
    tuning.add_argument("--max-epochs", type=int, default=10, help="at most this many epochs a run (default 10)")
    data = commands.add_parser(
        "data", parents=[folders], help="image folders and tables at real sizes against Keras's and pandas' way"
    )
    data.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000], help="images per folder (none: none)")
    data.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 10_000_000], help="rows per table")
    data.add_argument("--epochs", type=int, default=2, help="epochs of each training (default 2)")
    data.add_argument("--batch-size", type=int, default=128, help="batch size of every way (default 128)")


COMMANDS = {"training": _training, "suite": _suite, "index": _index, "tuning": _tuning, "data": _data}


def main(argv: list[str] | None = None) -> int:
    folders = argparse.ArgumentParser(add_help=False)
    folders.add_argument("--experiments-dir", type=Path, default=Path(os.environ.get("EXPERIMENTS", "experiments")))
    folders.add_argument("--reports-dir", type=Path, default=Path(os.environ.get("REPORTS", "reports")))
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    _arguments(parser.add_subparsers(dest="command", required=True), folders)
    args = parser.parse_args(argv)
    try:
        out = COMMANDS[args.command](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = next(out.glob("*.md"), None)
    print((summary.read_text() if summary else "") + f"\nwritten to {out}/")
    return 0


if __name__ == "__main__":
    filter_native_logs()
    sys.exit(main())
