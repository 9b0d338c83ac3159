"""A run's hyperparameters and final scores for TensorBoard's HParams dashboard: `tensorboard --logdir reports` then
shows every run in one table, with parallel coordinates and scatter plots of its settings against its scores.

Every scalar of the resolved config is a hyperparameter (a list is shown as its text); the scores are the test
accuracy and macro F1, the best validation accuracy and the test loss, written beside the run's curves in
reports/tensorboard/<experiment>/<run>/ (harness.records.tensorboard_dir).
"""

from __future__ import annotations

from harness.config.experiments import flat_config
from harness.config.schema import ExperimentConfig
from harness.records import RunDir, tensorboard_dir
from harness.training.tensorboard_logs import add_summaries, event_writer, scalar

SCORES = ("test_accuracy", "macro_f1", "best_val_accuracy", "test_loss")
LEFT_OUT = ("description", "extends")  # words, not settings


def hyperparameters(config: ExperimentConfig) -> dict:
    """Every scalar of the resolved config, by its dotted key; a list as its text."""
    return {
        key: value if isinstance(value, bool | int | float | str) else str(value)
        for key, value in flat_config(config.to_dict()).items()
        if key not in LEFT_OUT and value is not None
    }


def write_hparams(run: RunDir, config: ExperimentConfig, metrics: dict) -> None:
    from tensorboard.plugins.hparams.summary_v2 import hparams_pb

    root = tensorboard_dir(run.path)
    writer = event_writer(root / "hparams")
    add_summaries(writer, [hparams_pb(hyperparameters(config), trial_id=str(root.relative_to(root.parents[1])))], 0)
    scores = [scalar(f"hparams/{name}", metrics[name]) for name in SCORES if isinstance(metrics.get(name), int | float)]
    add_summaries(writer, scores, metrics.get("epochs_run", 0))
    writer.close()
