"""Optimizers and per-epoch learning-rate schedules from an experiment's config.

Schedules are plain functions of the epoch (counted from 0, as in Keras callbacks), applied by
Keras's ``LearningRateScheduler``; the rate actually used each epoch lands in history.csv.
"""

from __future__ import annotations

import math

import keras

from harness.config.schema import (
    CosineSchedule,
    ExperimentConfig,
    ExponentialSchedule,
    OptimizerConfig,
    StepSchedule,
    WarmupCosineSchedule,
)


def build_optimizer(config: OptimizerConfig) -> keras.optimizers.Optimizer:
    params = config.model_dump(exclude_none=True, exclude={"name"})
    if config.name in ("sgd", "momentum"):
        return keras.optimizers.SGD(**params)
    if config.name == "nesterov":
        return keras.optimizers.SGD(nesterov=True, **params)
    optimizers = {
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
    }
    return optimizers[config.name](**params)


def _cosine(progress: float, min_factor: float) -> float:
    """1 at progress 0, min_factor at progress 1."""
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def schedule_factor(schedule, epoch: int, epochs: int) -> float:
    """The multiple of the base learning rate used in this epoch (0-based) of a run of `epochs`."""
    if isinstance(schedule, StepSchedule):
        steps_passed = sum(epoch >= boundary for boundary in schedule.boundaries)
        return schedule.factors[steps_passed]
    if isinstance(schedule, ExponentialSchedule):
        return schedule.decay_rate**epoch
    if isinstance(schedule, CosineSchedule):
        return _cosine(epoch / max(epochs - 1, 1), schedule.min_factor)
    if isinstance(schedule, WarmupCosineSchedule):
        if epoch < schedule.warmup_epochs:
            return (epoch + 1) / schedule.warmup_epochs
        decay_epochs = max(epochs - schedule.warmup_epochs - 1, 1)
        return _cosine((epoch - schedule.warmup_epochs) / decay_epochs, schedule.min_factor)
    raise TypeError(f"unknown schedule {schedule!r}")


def learning_rates(config: ExperimentConfig) -> list[float]:
    """The learning rate of every epoch of the run, as the schedule will set it."""
    base, epochs = config.optimizer.learning_rate, config.training.epochs
    if config.schedule is None:
        return [base] * epochs
    return [base * schedule_factor(config.schedule, epoch, epochs) for epoch in range(epochs)]


def schedule_callback(config: ExperimentConfig) -> keras.callbacks.Callback | None:
    if config.schedule is None:
        return None
    rates = learning_rates(config)
    return keras.callbacks.LearningRateScheduler(lambda epoch, current: rates[min(epoch, len(rates) - 1)])
