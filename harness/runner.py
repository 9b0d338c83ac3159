"""Run one experiment end to end: data, model, training, evaluation, and every file of the run.

    python -m harness run adam_lr

Everything that can fail because of user input (config, dataset) fails before the run directory
exists, so bad input never leaves a half-made run behind.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import yaml

from harness.config import ExperimentConfig
from harness.data import Dataset, load_dataset
from harness.evaluate import Evaluation, evaluate
from harness.report import plot_learning_curves, write_evaluation
from harness.runs import environment, new_run_dir, point_latest, write_json, write_text, write_with
from harness.train import TrainingResult, build_compiled_model, fit, seed_everything


def model_summary(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda text, line_break=True: lines.append(text))
    return "\n".join(lines) + "\n"


def run_metrics(dataset: Dataset, result: TrainingResult, evaluation: Evaluation) -> dict:
    history = result.history
    best = history["val_accuracy"].idxmax()
    return {
        "status": "finished",
        "test_loss": evaluation.test_loss,
        "test_accuracy": evaluation.test_accuracy,
        "macro_f1": evaluation.macro_f1,
        "best_val_accuracy": float(history.loc[best, "val_accuracy"]),
        "best_epoch": int(history.loc[best, "epoch"]),  # counted from 0, as in history.csv
        "final_val_accuracy": float(history["val_accuracy"].iloc[-1]),
        "epochs_run": len(history),
        "stopped_early": result.stopped_early,
        "parameters": result.model.count_params(),
        "train_seconds": round(result.train_seconds, 3),
        "examples": {"train": len(dataset.y_train), "val": len(dataset.y_val), "test": len(dataset.y_test)},
    }


def run_experiment(config: ExperimentConfig, reports_dir: Path, verbose: int | str | None = None) -> Path:
    """Train and evaluate `config`, write its run directory, and return that directory."""
    dataset = load_dataset(config.dataset)
    seed_everything(config.training.seed, config.training.deterministic)
    model = build_compiled_model(config, dataset.input_dim, dataset.num_classes)

    run_dir = new_run_dir(reports_dir, config.name)
    write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True))
    write_json(run_dir / "env.json", environment(config.training.seed))
    write_text(run_dir / "model_summary.txt", model_summary(model))

    history_logger = keras.callbacks.CSVLogger(str(run_dir / "history.csv"))
    verbose = verbose if verbose is not None else (1 if sys.stdout.isatty() else 2)
    validation = (dataset.x_val, dataset.y_val)
    result = fit(config, model, dataset.x_train, dataset.y_train, validation, [history_logger], verbose=verbose)
    evaluation = evaluate(result.model, dataset, config.training.batch_size)

    write_with(run_dir / "model.keras", lambda path: result.model.save(path))
    title = f"{config.name} ({dataset.name})"
    plot_learning_curves(result.history, f"{title}: learning curves", run_dir / "learning_curves.png")
    write_evaluation(evaluation, dataset.class_names, title, run_dir)
    # Written last: a run directory with metrics.json is a finished run.
    write_json(run_dir / "metrics.json", run_metrics(dataset, result, evaluation))
    point_latest(run_dir)
    return run_dir
