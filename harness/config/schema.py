"""The experiment file's schema: what an experiment may say, and what each value may be.

`python -m harness run adam_lr` validates ``experiments/adam_lr.yaml`` (after ``extends:`` and
``--set`` overrides) with these models before anything is trained or written. Loading files and
applying overrides lives in ``harness.config.experiments``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from harness.config.model_section import ModelConfig
from harness.config.optimizers import OPTIMIZERS
from harness.config.schedules import Schedule, StepSchedule, WarmupCosineSchedule
from harness.config.section import Probability, Section
from harness.data.sources import DATASETS


class DatasetConfig(Section):
    name: Annotated[str, AfterValidator(DATASETS.known)]
    # Training examples to use (a stratified sample); all that remain after validation when absent.
    train_size: int | None = Field(default=None, ge=1)
    # Validation examples split from the training set; 5,000 for 60k-image sets when absent; 0: none, every training
    # example trains (make finalize: the chosen configuration trained on training + validation data).
    val_size: int | None = Field(default=None, ge=0)
    # The split is the same for every training seed, so runs that differ in seed share a validation set.
    split_seed: int = Field(default=0, ge=0)
    # Cross-validation (make experiment FOLDS=5): the training examples in `folds` stratified folds, the run's
    # validation set the fold numbered `fold` (from 0) and the others its training set (val_size set aside; train_size
    # still samples the training part); the test set stays out.
    folds: int | None = Field(default=None, ge=2, le=100)
    fold: int | None = Field(default=None, ge=0)
    # Your own data (harness.data.files): its file or folder, a table's target column and test set, the images'
    # size; each source takes the ones it lists (harness.data.sources).
    path: str | None = None
    target: str | None = None
    test_path: str | None = None
    test_fraction: float | None = Field(default=None, gt=0, lt=1)
    image_size: tuple[Annotated[int, Field(ge=1, le=4096)], Annotated[int, Field(ge=1, le=4096)]] | None = None

    @model_validator(mode="after")
    def _settings_apply(self) -> DatasetConfig:
        source = DATASETS[self.name]
        given = [key for key in DATASET_SETTINGS if getattr(self, key) is not None]
        for key in given:
            if key not in source.takes:
                takes = f"takes {', '.join(source.takes)}" if source.takes else "takes none of them"
                raise ValueError(f"{key} does not apply to the dataset {self.name}, which {takes}")
        missing = [key for key in source.needs if getattr(self, key) is None]
        if missing:
            raise ValueError(f"the dataset {self.name} needs {' and '.join(missing)}: {source.description}")
        if self.test_path and self.test_fraction:
            raise ValueError("give test_path (a test set of its own) or test_fraction (split from the data), not both")
        return self

    @model_validator(mode="before")
    @classmethod
    def _folds_replace_val_size(cls, data):
        """With folds, each fold is in turn the validation set: a val_size (the reference experiments give one) is
        set aside, so that FOLDS=5 works on any experiment."""
        if isinstance(data, dict) and data.get("folds") is not None:
            return {key: value for key, value in data.items() if key != "val_size"}
        return data

    @model_validator(mode="after")
    def _folds_fit(self) -> DatasetConfig:
        if self.fold is not None and self.folds is None:
            raise ValueError("dataset.fold needs dataset.folds (how many folds the training examples make)")
        if self.fold is not None and self.fold >= self.folds:
            raise ValueError(f"dataset.fold is {self.fold}: folds count from 0, so it is below folds ({self.folds})")
        return self


DATASET_SETTINGS = ("path", "target", "test_path", "test_fraction", "image_size")


class OptimizerConfig(Section):
    name: Annotated[str, AfterValidator(OPTIMIZERS.known)]
    learning_rate: float = Field(gt=0, le=1e6)
    momentum: Probability | None = None
    beta_1: Probability | None = None
    beta_2: Probability | None = None
    rho: Probability | None = None
    epsilon: float | None = Field(default=None, gt=0)
    weight_decay: float | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _entry_defaults(cls, data):
        """The optimizer's own defaults (momentum 0.9 for momentum and nesterov, Keras's learning rate for its class)
        where the file gives none."""
        if not isinstance(data, dict) or data.get("name") not in OPTIMIZERS:
            return data
        entry = OPTIMIZERS[data["name"]]
        defaults = {"learning_rate": entry.learning_rate} | entry.defaults
        return data | {key: value for key, value in defaults.items() if data.get(key) is None}

    @model_validator(mode="after")
    def _parameters_apply(self) -> OptimizerConfig:
        allowed = OPTIMIZERS[self.name].takes
        for key in self.model_dump(exclude_none=True, exclude={"name", "learning_rate"}):
            if key not in allowed:
                takes = ", ".join(("learning_rate",) + allowed)
                raise ValueError(f"{key} does not apply to the {self.name} optimizer, which takes {takes}")
        return self


class EarlyStoppingConfig(Section):
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    patience: int = Field(default=3, ge=0)
    min_delta: float = Field(default=0.0, ge=0)
    restore_best_weights: bool = True


class TrainingConfig(Section):
    epochs: int | None = Field(default=None, ge=1, le=100_000)
    # numpy models only: mini-batch steps, each batch drawn with replacement (the textbook's loop).
    iterations: int | None = Field(default=None, ge=1, le=10_000_000)
    batch_size: int = Field(default=128, ge=1, le=1_000_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    # Deterministic kernels: an identical history for the same seed, somewhat slower.
    deterministic: bool = False
    # XLA compilation: true, false, or auto (on for runs of at least 200,000 training images in all,
    # where its faster epochs repay the seconds it takes to compile).
    jit_compile: bool | Literal["auto"] = "auto"
    # Keras's dtype policy: mixed_bfloat16 computes in bfloat16 and keeps float32 weights (the output layer
    # stays float32); it pays where the hardware multiplies bfloat16 natively (AVX512_BF16, AMX, GPUs).
    precision: Literal["float32", "mixed_bfloat16"] = "float32"
    early_stopping: EarlyStoppingConfig | None = None
    # How the examples reach the model (harness.training.inputs): memory (an epoch at a time), stream (a part of an
    # epoch at a time, from the cache on disk), or auto: memory when the training examples fit memory_budget_gb.
    # Both draw the same batches: the choice changes the memory a run takes, never its numbers.
    input: Literal["auto", "memory", "stream"] = "auto"
    # Training data up to this size (GB, as stored: uint8 pixels, float32 features) trains in memory with auto;
    # absent: an eighth of this machine's memory.
    memory_budget_gb: float | None = Field(default=None, gt=0)


class ReportConfig(Section):
    # Labels of plots and pages; absent: Japanese when LANG starts with "ja", else English.
    language: Literal["en", "ja"] | None = None


class ExperimentConfig(Section):
    name: str
    description: str = Field(min_length=1)
    extends: str | None = None
    dataset: DatasetConfig
    model: ModelConfig
    optimizer: OptimizerConfig
    schedule: Schedule | None = None
    training: TrainingConfig
    report: ReportConfig = ReportConfig()

    @model_validator(mode="after")
    def _numpy_model_fits(self) -> ExperimentConfig:
        model, training = self.model, self.training
        if model.framework == "keras":
            if training.epochs is None:
                raise ValueError("training.epochs is required")
            if training.iterations is not None or model.gradient is not None:
                raise ValueError("training.iterations and model.gradient apply to model.framework: numpy only")
            return self
        parameters = model.parameters
        regularised = parameters.get("l1") or parameters.get("l2") or parameters.get("dropout")
        problems = [
            (model.builder != "two_layer_net", "model.builder must be two_layer_net"),
            (len(parameters["hidden_units"]) != 1 or parameters["activation"] != "sigmoid", "one sigmoid hidden layer"),
            (bool(regularised or parameters.get("batch_norm")), "no l1, l2, dropout or batch_norm"),
            (self.optimizer.name != "sgd", "optimizer.name: sgd (plain gradient descent)"),
            (self.schedule is not None or training.early_stopping is not None, "no schedule or early_stopping"),
            (training.iterations is None or training.epochs is not None, "training.iterations instead of epochs"),
        ]
        unmet = [need for failed, need in problems if failed]
        if unmet:
            raise ValueError(f"the numpy TwoLayerNet needs {'; '.join(unmet)}")
        return self

    @model_validator(mode="after")
    def _validation_where_needed(self) -> ExperimentConfig:
        if self.dataset.val_size == 0 and self.training.early_stopping is not None:
            raise ValueError("training.early_stopping watches the validation set, and dataset.val_size is 0: drop one")
        if self.dataset.val_size == 0 and self.model.framework == "numpy":
            raise ValueError("the numpy TwoLayerNet reports a validation set: dataset.val_size must be above 0")
        return self

    @model_validator(mode="after")
    def _schedule_fits_run(self) -> ExperimentConfig:
        schedule = self.schedule
        if isinstance(schedule, WarmupCosineSchedule) and schedule.warmup_epochs >= (self.training.epochs or 0):
            raise ValueError(
                f"schedule.warmup_epochs ({schedule.warmup_epochs}) must be fewer than training.epochs "
                f"({self.training.epochs})"
            )
        return self

    def settings_without_effect(self) -> list[str]:
        """Settings this run is too short for, each in a sentence: a schedule step at or after its last epoch, an
        early stopping whose patience outlasts the run. Valid, but a comparison of them would show nothing."""
        epochs, found = self.training.epochs, []
        if epochs is None:
            return found
        if isinstance(self.schedule, StepSchedule):
            late = [boundary for boundary in self.schedule.boundaries if boundary >= epochs]
            if late:
                many = len(late) > 1
                when = (
                    f"steps at epochs {', '.join(map(str, late))} never come"
                    if many
                    else f"step at epoch {late[0]} never comes"
                )
                found.append(f"schedule.boundaries: the {when} in a run of {epochs} epochs (epochs count from 0)")
        stopping = self.training.early_stopping
        if stopping is not None and stopping.patience >= epochs - 1:
            found.append(
                f"training.early_stopping.patience: {stopping.patience} epochs of patience cannot stop a run of "
                f"{epochs} epochs early"
            )
        return found

    def to_dict(self) -> dict:
        """Plain values, as a run records its config: every default filled in, unset optional keys left out."""
        return self.model_dump(mode="json", exclude_none=True)
