"""The command line every Makefile target forwards to.

python -m harness run adam_lr --epochs 3 --dataset digits --set optimizer.learning_rate=0.01
python -m harness list
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from harness.config.choices import markdown_tables, names, terminal_lines
from harness.config.experiments import available, resolve
from harness.errors import UserError
from harness.groups.parallel import default_workers, parse_threads, thread_environment
from harness.records import GroupDir, RunDir, process_command
from harness.surface import command_line

USAGE_ERROR = 2


def _folders_parser() -> argparse.ArgumentParser:
    folders = argparse.ArgumentParser(add_help=False)
    folders.add_argument("--experiments-dir", type=Path, default=Path(os.environ.get("EXPERIMENTS", "experiments")))
    folders.add_argument("--reports-dir", type=Path, default=Path(os.environ.get("REPORTS", "reports")))
    return folders


def _settings_parser() -> argparse.ArgumentParser:
    """--set, --epochs and --dataset: what every command that makes runs takes."""
    settings = argparse.ArgumentParser(add_help=False)
    settings.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. optimizer.learning_rate=0.01 (repeatable)",
    )
    settings.add_argument("--epochs", type=int, help="shortcut for --set training.epochs=N")
    settings.add_argument("--dataset", help=f"another dataset, with its default split: {', '.join(names('dataset'))}")
    return settings


def _notes_parser() -> argparse.ArgumentParser:
    notes = argparse.ArgumentParser(add_help=False)
    notes.add_argument("--note", help="your note on the run (shown on its page and in the index)")
    notes.add_argument("--tags", default="", help='tags to find the run by, e.g. "baseline keep"')
    return notes


def _group_parser() -> argparse.ArgumentParser:
    group = argparse.ArgumentParser(add_help=False)
    group.add_argument("--seeds", help='a count (5: seeds 0..4) or a list ("3 7 11"): one run per seed, as a group')
    group.add_argument(
        "--folds",
        type=int,
        help="cross-validate: k runs, each validated on one of k stratified folds of the training data",
    )
    group.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at a time, each with its share of the CPU threads (0: one after another in this process)",
    )
    return group


def _run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("name", help="experiment name: the stem of a file in experiments/")
    run.add_argument("--seed", type=int, help="shortcut for --set training.seed=N")
    run.add_argument("--resume", metavar="RUN", help="continue an interrupted run: its run id, path, or latest")
    run.add_argument("--run-dir", type=Path, help="create the run in this new directory (how a group starts its runs)")
    run.add_argument("--threads", help="limit training to N CPU threads, or 'make': its share under make -j N")
    run.add_argument(
        "--skip-done",
        action="store_true",
        help="do nothing when a finished run has the same config, code and data (make all)",
    )


def _all_arguments(every: argparse.ArgumentParser) -> None:
    every.add_argument("names", nargs="*", help="experiment names (default: every file in experiments/)")
    every.add_argument(
        "--jobs",
        type=int,
        help="worker processes (default: N of make -j N, else one per core, at most 4; 0: in this process)",
    )
    every.add_argument(
        "--skip-done",
        action="store_true",
        help="skip an experiment with a finished run of the same config, code and data",
    )


def _sweep_arguments(sweep: argparse.ArgumentParser) -> None:
    sweep.add_argument("name", help="experiment name")
    sweep.add_argument("--grid", required=True, help='e.g. "model.l2=0.0001,0.001 training.batch_size=64,128"')
    sweep.add_argument("--random", type=int, help="sample N points (ranges LOW:HIGH or LOW:HIGH:log allowed)")
    sweep.add_argument("--sample-seed", type=int, default=0, help="seed of the random sampling of points")
    sweep.add_argument("--search", help="tpe: Optuna's TPE chooses each point from the runs so far (with --trials)")
    sweep.add_argument("--trials", type=int, help="how many runs SEARCH=tpe may make")
    sweep.add_argument("--prune", help="hyperband or median: stop runs whose validation accuracy falls behind")
    sweep.add_argument(
        "--stop", help='when to take no new point: "plateau:8 target:0.93 time:2h trials:40" (any of them)'
    )
    sweep.add_argument("--keep", help="best:K: once the sweep ends, the heavy files of only its K best points stay")
    sweep.add_argument(
        "--storage",
        default=os.environ.get("STORAGE") or None,
        help="keep the study in a database (postgresql://...): other machines may join it",
    )


def _finalize_arguments(final: argparse.ArgumentParser) -> None:
    final.add_argument("sweep", help="the sweep: its id (sweep-<time>-<suffix>), path, or an experiment's latest sweep")
    final.add_argument("--seeds", default="5", help="how many seeds (default 5) or which ('3 7 11')")
    final.add_argument("--jobs", type=int, default=1, help="runs at a time (0: one after another in this process)")


def _table_arguments(table: argparse.ArgumentParser) -> None:
    table.add_argument("names", nargs="+", help="experiments (each group of seeds or folds they have), groups, paths")
    table.add_argument("--rows", default="experiment", help="what each row is: experiment, dataset or a config key")
    table.add_argument("--columns", default="dataset", help="what each column is (default: dataset)")
    table.add_argument(
        "--metric", default="test_accuracy", help="the runs' metric in the cells (default test_accuracy)"
    )
    table.add_argument("--format", default="markdown", choices=("markdown", "latex", "csv"), help="what to print")
    table.add_argument("--spread", default="ci", choices=("ci", "sd"), help="ci: 95%% interval; sd: standard deviation")


def _prune_arguments(pruning: argparse.ArgumentParser) -> None:
    pruning.add_argument("name", help="an experiment (its runs), or a group or sweep (its points): id or path")
    pruning.add_argument("--keep", required=True, help="best:K, the K best by validation whose heavy files stay")
    pruning.add_argument("--confirm", action="store_true", help="remove them (without it: say what would go)")


def _du_arguments(du: argparse.ArgumentParser) -> None:
    pass


def _tag_arguments(tag: argparse.ArgumentParser) -> None:
    tag.add_argument("run", help="a run: its id, path, or an experiment's name (its latest run)")


def _report_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument("--index-only", action="store_true", help="only write reports/index.html")


def _gradcheck_arguments(check: argparse.ArgumentParser) -> None:
    check.add_argument("name", help="experiment name")


def _compare_arguments(comparison: argparse.ArgumentParser) -> None:
    comparison.add_argument("names", nargs="+", help="experiment names (latest run or group), run or group ids, paths")


def _list_arguments(listing: argparse.ArgumentParser) -> None:
    listing.add_argument("--runs", action="store_true", help="list the runs under the reports folder instead")
    listing.add_argument("--choices", action="store_true", help="every dataset, model, optimizer and schedule")


def _worker_arguments(joining: argparse.ArgumentParser) -> None:
    joining.add_argument("--sweep", required=True, help="the group's id (sweep-<time>-<suffix>)")
    joining.add_argument("--storage", default=os.environ.get("STORAGE") or None, help="postgresql://...")
    joining.add_argument("--jobs", type=int, default=1, help="runs at a time on this machine (0: in this process)")


def _dashboard_arguments(dashboard: argparse.ArgumentParser) -> None:
    dashboard.add_argument("--sweep", help="the sweep's id (default: the newest sweep)")
    dashboard.add_argument("--storage", default=os.environ.get("STORAGE") or None, help="postgresql://... of a sweep")
    dashboard.add_argument("--port", type=int, default=8080, help="the port to serve on (default 8080)")


def _parser() -> argparse.ArgumentParser:
    parents = {
        "folders": _folders_parser(),
        "settings": _settings_parser(),
        "group": _group_parser(),
        "notes": _notes_parser(),
    }
    parser = argparse.ArgumentParser(prog="python -m harness", description="Run and inspect Keras experiments.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (shared, arguments, _, text) in COMMANDS.items():
        arguments(commands.add_parser(name, parents=[parents[kind] for kind in shared], help=text))
    return parser


def command_run(args: argparse.Namespace) -> int:
    if args.threads:
        os.environ.update(thread_environment(parse_threads(args.threads)))  # before TensorFlow loads
    if (args.seeds or args.folds) and (args.resume or args.skip_done):
        what = "SEEDS" if args.seeds else "FOLDS"
        raise UserError(f"{what} starts a new group of runs: it does not combine with RESUME or --skip-done")
    from harness import api

    api.check_run_options(args.seed, args.seeds, 1, args.run_dir, args.folds)
    if args.resume:
        return _resume(args)
    if args.skip_done and _up_to_date(args):
        return 0
    result = api.run(
        args.name, seed=args.seed, run_dir=args.run_dir, command=process_command(), isolated=False, **_group_of(args)
    )
    return _report_result(args.name, result, args)


def _group_of(args: argparse.Namespace) -> dict:
    """What `run` and `sweep` pass on alike: the settings, the seeds and jobs, the folders, the note and tags."""
    return {
        "note": args.note,
        "tags": args.tags,
        "epochs": args.epochs,
        "dataset": args.dataset,
        "overrides": args.overrides,
        "seeds": args.seeds,
        "folds": args.folds,
        "jobs": args.jobs,
        "reports_dir": args.reports_dir,
        "experiments_dir": args.experiments_dir,
    }


def _up_to_date(args: argparse.Namespace) -> bool:
    from harness.training.fingerprint import finished_run_like

    config = resolve(args.name, args.experiments_dir, args.overrides, args.dataset, args.epochs, args.seed)
    done = finished_run_like(config, args.reports_dir)
    if done:
        print(f"{args.name}: up to date, finished run {done} has the same config, code and data (FORCE=1 reruns)")
    return bool(done)


def command_all(args: argparse.Namespace) -> int:
    from harness.groups.suite import run_all

    jobs = args.jobs if args.jobs is not None else default_workers()
    names = args.names or available(args.experiments_dir)
    return run_all(
        names,
        args.experiments_dir,
        args.reports_dir,
        jobs,
        args.skip_done,
        overrides=args.overrides,
        dataset=args.dataset,
        epochs=args.epochs,
    )


def command_sweep(args: argparse.Namespace) -> int:
    from harness import api

    group = api.sweep(
        args.name,
        args.grid,
        random=args.random,
        sample_seed=args.sample_seed,
        search=args.search,
        trials=args.trials,
        prune=args.prune,
        stop=args.stop,
        keep=args.keep,
        storage=args.storage,
        **_group_of(args),
    )
    return _report_result(args.name, group, args)


def command_sweep_worker(args: argparse.Namespace) -> int:
    from harness import api

    group = api.join_sweep(
        args.sweep, args.storage, jobs=args.jobs, reports_dir=args.reports_dir, experiments_dir=args.experiments_dir
    )
    return _report_result(args.sweep, group, args)


def _resume(args: argparse.Namespace) -> int:
    """RESUME=... continues a run with its own config: options may repeat its values (the command that
    started it, with RESUME added), EPOCHS may ask for more epochs; any other difference is refused."""
    from harness.config.experiments import resume_conflicts, touched_keys
    from harness.records import find_run

    run_dir = find_run(args.reports_dir, args.name, args.resume)
    stored = RunDir(run_dir).config()
    if args.overrides or args.dataset or args.seed is not None:
        requested = resolve(stored.name, args.experiments_dir, args.overrides, args.dataset, args.epochs, args.seed)
        touched = touched_keys(args.overrides, args.dataset, args.epochs, args.seed)
        conflicts = resume_conflicts(stored, requested, touched)
        if conflicts:
            raise UserError(
                f"a resumed run keeps its config, but {'; '.join(conflicts)}: drop those options, "
                "or start a new run without RESUME"
            )
        epochs = requested.training.epochs
    else:
        epochs = args.epochs
    from harness import api

    return _report_result(args.name, api.Run(run_dir).resume(epochs=epochs, isolated=False), args)


def _report_result(name: str, result, args: argparse.Namespace) -> int:
    """What the command prints when a run or group ends, and its exit status."""
    from harness import api

    if isinstance(result, api.Group):
        from harness.reporting.group_report import summary_text

        group = GroupDir(result.path)
        print(summary_text(group.summary()) + f"\npage: {group.path / group.PAGE}")
        return result.exit_code
    run_dir, status, reason = result.path, result.status, result.reason
    if status == "finished":
        metrics = RunDir(run_dir).metrics()
        validation = (
            f"best val accuracy {metrics['best_val_accuracy']:.4f} (epoch {metrics['best_epoch'] + 1})"
            if metrics.get("best_val_accuracy") is not None
            else "no validation set"
        )
        print(
            f"\n{name}: test accuracy {metrics['test_accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}, "
            f"{validation}, trained in {metrics['train_seconds']:.1f} s\nreport: {run_dir}"
        )
    elif status == "interrupted":
        print(f"\n{name}: interrupted ({reason}). Resume with: {_resume_command(name, run_dir, args)}", file=sys.stderr)
        print(f"report so far: {run_dir}", file=sys.stderr)
    else:
        print(f"\n{name}: {status}: {reason}\nreport: {run_dir}", file=sys.stderr)
    return result.exit_code


def _resume_command(name: str, run_dir: Path, args: argparse.Namespace) -> str:
    """The make command that resumes the run, with the folders the command was given where they are not make's
    defaults (as absolute paths: make runs in the checkout)."""
    words = [f"make experiment NAME={name} RESUME={run_dir.name}"]
    for variable, folder in (("EXPERIMENTS", args.experiments_dir), ("REPORTS", args.reports_dir)):
        if Path(folder).resolve() != (Path.cwd() / variable.lower()).resolve():
            words.append(f"{variable}={shlex.quote(str(Path(folder).resolve()))}")
    return " ".join(words)


def command_finalize(args: argparse.Namespace) -> int:
    from harness import api

    final = api.finalize(
        args.sweep, seeds=args.seeds, jobs=args.jobs, reports_dir=args.reports_dir, experiments_dir=args.experiments_dir
    )
    return _report_result(final.name, final, args)


def command_table(args: argparse.Namespace) -> int:
    from harness import api

    made = api.table(
        *args.names,
        rows=args.rows,
        columns=args.columns,
        metric=args.metric,
        format=args.format,
        spread=args.spread,
        reports_dir=args.reports_dir,
    )
    print(made.text + f"\nwritten: {', '.join(str(path) for path in made.files)}")
    return 0


def command_du(args: argparse.Namespace) -> int:
    from harness.groups.disk import usage_text

    print(usage_text(args.reports_dir))
    return 0


def command_prune(args: argparse.Namespace) -> int:
    from harness import api

    print(api.prune(args.name, args.keep, confirm=args.confirm, reports_dir=args.reports_dir))
    return 0


def command_tag(args: argparse.Namespace) -> int:
    from harness import api

    if not args.tags and args.note is None:
        raise UserError('give TAGS="..." (or NOTE="..."): what to add to the run')
    run = api.load(args.run, reports_dir=args.reports_dir)
    if not isinstance(run, api.Run):
        raise UserError(f"{args.run} is a group: tag one of its runs, e.g. {run.path / 'seed-0'}")
    run.tag(args.tags, note=args.note)
    print(f"{run.path}: tags {', '.join(run.tags) or 'none'}" + (f"; note: {run.note}" if run.note else ""))
    return 0


def command_dashboard(args: argparse.Namespace) -> int:
    from harness.tools.dashboard import run_dashboard

    run_dashboard(args.reports_dir, args.sweep, args.storage, args.port)
    return 0


def command_report(args: argparse.Namespace) -> int:
    from harness.records import GroupDir, group_directories, is_group, run_directories
    from harness.reporting.index import write_index

    folders = [] if args.index_only else run_directories(args.reports_dir) + group_directories(args.reports_dir)
    running = [folder for folder in folders if is_group(folder) and GroupDir(folder).is_running()]
    folders = [folder for folder in folders if folder not in running]  # their page is the one that follows them
    if folders:  # the plotting libraries take a second to import; the index alone needs none of them
        from harness.groups.storage import group_study
        from harness.reporting.group_report import write_group_report
        from harness.reporting.report import write_report
    failures = 0
    for folder in folders:
        try:
            write_group_report(folder, group_study(folder)) if is_group(folder) else write_report(folder)
        except Exception as error:  # one unreadable run must not stop the others
            failures += 1
            print(f"warning: {folder}: {type(error).__name__}: {error}", file=sys.stderr)
    index = write_index(args.reports_dir, everything=not args.index_only) if args.reports_dir.is_dir() else None
    if folders:
        print(f"reports made again for {len(folders) - failures} of {len(folders)} runs and groups")
    if running:
        print(f"left to the machines running them, as they run: {', '.join(map(str, running))}")
    print(f"index: {index or 'no runs yet'}")
    return 1 if failures else 0


def command_list(args: argparse.Namespace) -> int:
    if args.runs:
        from harness import api
        from harness.reporting.index import terminal_table

        print(terminal_table(api.runs(args.reports_dir)))
        return 0
    if args.choices:
        print(markdown_tables(), end="")
        return 0
    rows, invalid = [], []
    for name in available(args.experiments_dir):
        try:
            config = resolve(name, args.experiments_dir)
        except UserError as error:  # listed with its error, below the others
            invalid.append(f"{name}: {error}")
            continue
        schedule = f" + {config.schedule.name} schedule" if config.schedule else ""
        optimizer = f"{config.optimizer.name} {config.optimizer.learning_rate:g}{schedule}"
        length = config.training.epochs or f"{config.training.iterations} iterations"
        rows.append((name, config.model.builder, optimizer, config.dataset.name, str(length)))
    header = ("experiment", "model", "optimizer", "dataset", "epochs")
    widths = [max(len(row[column]) for row in rows + [header]) for column in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if invalid:
        print("\nfiles that do not make an experiment (fix them to run them):\n" + "\n".join(invalid))
    print(f"\nwhat an experiment may name (python -m harness list --choices: with their settings)\n{terminal_lines()}")
    return 0


def command_gradcheck(args: argparse.Namespace) -> int:
    config = resolve(args.name, args.experiments_dir, args.overrides, args.dataset)
    from harness.tools.gradcheck import format_results, gradcheck_experiment

    results = gradcheck_experiment(config)
    print(format_results(args.name, results))
    return 0 if all(result.passed for result in results) else 1


def command_compare(args: argparse.Namespace) -> int:
    from harness import api
    from harness.reporting.compare_runs import terminal_text

    comparison = api.compare(*args.names, reports_dir=args.reports_dir)
    page = comparison.page
    print(terminal_text(comparison.summary, comparison.verdicts) + f"\n\ncomparison: {page}")
    return 0


COMMANDS = {  # name: (shared options, its own arguments, what runs it, help)
    "run": (
        ("folders", "settings", "group", "notes"),
        _run_arguments,
        command_run,
        "train, evaluate and write the reports of one experiment",
    ),
    "all": (
        ("folders", "settings"),
        _all_arguments,
        command_all,
        "run every experiment (or those named) in warm workers",
    ),
    "sweep": (
        ("folders", "settings", "group", "notes"),
        _sweep_arguments,
        command_sweep,
        "run an experiment over a grid of config values",
    ),
    "sweep-worker": (("folders",), _worker_arguments, command_sweep_worker, "take runs of a sweep in a database"),
    "report": (("folders",), _report_arguments, command_report, "make every run's and group's report again"),
    "tag": (("folders", "notes"), _tag_arguments, command_tag, "add tags (and a note) to a run"),
    "finalize": (
        ("folders",),
        _finalize_arguments,
        command_finalize,
        "train a sweep's best point on training + validation data and test it once",
    ),
    "table": (("folders",), _table_arguments, command_table, "a table for a paper: groups' means and intervals"),
    "du": (("folders",), _du_arguments, command_du, "the space each experiment, group and sweep takes"),
    "prune": (("folders",), _prune_arguments, command_prune, "keep the heavy files of only the best runs"),
    "dashboard": (("folders",), _dashboard_arguments, command_dashboard, "Optuna's dashboard on a sweep's study"),
    "gradcheck": (
        ("folders", "settings"),
        _gradcheck_arguments,
        command_gradcheck,
        "check an experiment's gradients numerically",
    ),
    "compare": (("folders",), _compare_arguments, command_compare, "compare runs side by side"),
    "list": (("folders",), _list_arguments, command_list, "list the experiments (--runs: every run)"),
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with command_line():
            return COMMANDS[args.command][2](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except OSError as error:  # a full disk or an unwritable folder: say which file, not a traceback
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {where}{error.strerror or error} (check free disk space and permissions)", file=sys.stderr)
        return 1
