"""The per-epoch learning-rate schedules an experiment may name, each declared once: its settings and its rule.

    schedule: {name: step, boundaries: [5, 8], factors: [1.0, 0.5, 0.1]}

A schedule is a section of the experiment file whose `factor(epoch, epochs)` is the multiple of the base learning
rate used in that epoch (counted from 0, as Keras's callbacks count); Keras's LearningRateScheduler applies it
(harness.training.optimizers) and the run's history records the rate each epoch used. To add one: a class here, in
SCHEDULE_KINDS.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field, model_validator

from harness.config.section import Probability, Section
from harness.registry import Registry


def _cosine(progress: float, min_factor: float) -> float:
    """1 at progress 0, min_factor at progress 1."""
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


class StepSchedule(Section):
    """Multiply the learning rate by factors[i] from epoch boundaries[i-1] on (epochs count from 0)."""

    description: ClassVar[str] = "x factors[i] from epoch boundaries[i-1] on"
    name: Literal["step"]
    boundaries: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)
    factors: list[Annotated[float, Field(gt=0)]]

    @model_validator(mode="after")
    def _consistent(self) -> StepSchedule:
        if self.boundaries != sorted(set(self.boundaries)):
            raise ValueError("boundaries must be strictly increasing epochs")
        if len(self.factors) != len(self.boundaries) + 1:
            raise ValueError(
                f"factors needs {len(self.boundaries) + 1} values (one before the first boundary and one after each), "
                f"got {len(self.factors)}"
            )
        return self

    def factor(self, epoch: int, epochs: int) -> float:
        return self.factors[sum(epoch >= boundary for boundary in self.boundaries)]


class ExponentialSchedule(Section):
    """learning_rate * decay_rate ** epoch."""

    description: ClassVar[str] = "x decay_rate ** epoch"
    name: Literal["exponential"]
    decay_rate: float = Field(gt=0, le=1)

    def factor(self, epoch: int, epochs: int) -> float:
        return self.decay_rate**epoch


class CosineSchedule(Section):
    """Cosine decay from the learning rate to min_factor times it over the run's epochs."""

    description: ClassVar[str] = "cosine decay to min_factor over the run"
    name: Literal["cosine"]
    min_factor: Probability = 0.0

    def factor(self, epoch: int, epochs: int) -> float:
        return _cosine(epoch / max(epochs - 1, 1), self.min_factor)


class WarmupCosineSchedule(Section):
    """Linear warm-up over warmup_epochs, then cosine decay over the remaining epochs."""

    description: ClassVar[str] = "linear warm-up, then cosine decay"
    name: Literal["warmup_cosine"]
    warmup_epochs: int = Field(ge=1)
    min_factor: Probability = 0.0

    def factor(self, epoch: int, epochs: int) -> float:
        if epoch < self.warmup_epochs:
            return (epoch + 1) / self.warmup_epochs
        decay_epochs = max(epochs - self.warmup_epochs - 1, 1)
        return _cosine((epoch - self.warmup_epochs) / decay_epochs, self.min_factor)


SCHEDULE_KINDS = (StepSchedule, ExponentialSchedule, CosineSchedule, WarmupCosineSchedule)
SCHEDULES: Registry[type[Section]] = Registry("schedule")
for _kind in SCHEDULE_KINDS:
    SCHEDULES.add(_kind.model_fields["name"].annotation.__args__[0], _kind)

Schedule = Annotated[Union[SCHEDULE_KINDS], Field(discriminator="name")]  # noqa: UP007 - a union of a tuple


def settings_of(kind: type[Section]) -> tuple[str, ...]:
    """The settings a schedule takes, besides its name."""
    return tuple(field for field in kind.model_fields if field != "name")
