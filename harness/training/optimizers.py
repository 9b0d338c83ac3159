"""Optimizers and per-epoch learning-rate schedules from an experiment's config.

Each optimizer is its entry in harness.config.optimizers.OPTIMIZERS (a Keras class and the settings it takes);
each schedule is a section of harness.config.schedules with its own rule, applied by Keras's
``LearningRateScheduler``; the rate actually used each epoch lands in the run's history.
"""

from __future__ import annotations

import keras

from harness.config.optimizers import OPTIMIZERS
from harness.config.schema import ExperimentConfig, OptimizerConfig


def build_optimizer(config: OptimizerConfig) -> keras.optimizers.Optimizer:
    entry = OPTIMIZERS[config.name]
    settings = config.model_dump(exclude_none=True, exclude={"name"})
    return getattr(keras.optimizers, entry.keras_class)(**entry.fixed, **settings)


def learning_rates(config: ExperimentConfig) -> list[float]:
    """The learning rate of every epoch of the run, as the schedule will set it."""
    base, epochs = config.optimizer.learning_rate, config.training.epochs
    if config.schedule is None:
        return [base] * epochs
    return [base * config.schedule.factor(epoch, epochs) for epoch in range(epochs)]


def schedule_callback(config: ExperimentConfig) -> keras.callbacks.Callback | None:
    if config.schedule is None:
        return None
    rates = learning_rates(config)
    return keras.callbacks.LearningRateScheduler(lambda epoch, current: rates[min(epoch, len(rates) - 1)])
