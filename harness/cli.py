"""The command line every Makefile target forwards to.

python -m harness run adam_lr --epochs 3 --dataset digits --set optimizer.learning_rate=0.01
python -m harness list
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from harness.errors import UserError
from harness.experiments import available, resolve

USAGE_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    folders = argparse.ArgumentParser(add_help=False)
    folders.add_argument("--experiments-dir", type=Path, default=Path(os.environ.get("EXPERIMENTS", "experiments")))
    folders.add_argument("--reports-dir", type=Path, default=Path(os.environ.get("REPORTS", "reports")))
    parser = argparse.ArgumentParser(prog="python -m harness", description="Run and inspect Keras experiments.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", parents=[folders], help="train, evaluate and write the reports of one experiment")
    run.add_argument("name", help="experiment name: the stem of a file in experiments/")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value, e.g. optimizer.learning_rate=0.01 (repeatable)")  # fmt: skip
    run.add_argument("--epochs", type=int, help="shortcut for --set training.epochs=N")
    run.add_argument("--seed", type=int, help="shortcut for --set training.seed=N")
    run.add_argument("--dataset", help="run on another dataset (mnist, fashion_mnist, digits) with its default split")

    commands.add_parser("list", parents=[folders], help="list the experiments")

    bench = commands.add_parser("bench", parents=[folders], help="time the harness's training against the seed's way")
    bench.add_argument("--model", default=os.environ.get("BENCH_MODEL", "basic_dnn"),
                       help="a model factory (basic_dnn, simple, ...) or an experiment name")  # fmt: skip
    bench.add_argument("--epochs", type=int, default=3, help="timed epochs, after one warm-up epoch")
    bench.add_argument("--samples", type=int, default=60_000, help="training images per epoch")
    return parser


def command_run(args: argparse.Namespace) -> int:
    config = resolve(args.name, args.experiments_dir, args.overrides, args.dataset, args.epochs, args.seed)
    # TensorFlow loads only once the config is known to be good; its C++ start-up chatter is not for users.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from harness.runner import run_experiment

    run_dir = run_experiment(config, args.reports_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    print(
        f"\n{config.name}: test accuracy {metrics['test_accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}, "
        f"best val accuracy {metrics['best_val_accuracy']:.4f} (epoch {metrics['best_epoch']}), "
        f"trained in {metrics['train_seconds']:.1f} s\nreport: {run_dir}"
    )
    return 0


def command_list(args: argparse.Namespace) -> int:
    rows = []
    for name in available(args.experiments_dir):
        config = resolve(name, args.experiments_dir)
        schedule = f" + {config.schedule.name} schedule" if config.schedule else ""
        optimizer = f"{config.optimizer.name} {config.optimizer.learning_rate:g}{schedule}"
        rows.append((name, config.model.factory, optimizer, config.dataset.name, str(config.training.epochs)))
    header = ("experiment", "model", "optimizer", "dataset", "epochs")
    widths = [max(len(row[column]) for row in rows + [header]) for column in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def command_bench(args: argparse.Namespace) -> int:
    if args.epochs < 1 or args.samples < 1:
        raise UserError("--epochs and --samples must be at least 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from harness.bench import run_bench

    out = run_bench(args.model, args.epochs, args.samples, args.experiments_dir, args.reports_dir)
    print((out / "bench.md").read_text() + f"\nwritten to {out}/bench.json and bench.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"run": command_run, "list": command_list, "bench": command_bench}[args.command](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
