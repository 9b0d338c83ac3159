"""Measure the harness's training path against the seed notebook's way, side by side in one process.

    python -m harness bench [--model basic_dnn] [--epochs 3]      (or: make bench BENCH_MODEL=simple)

Both ways train the same model with the same optimizer, batch size and samples for one warm-up epoch
plus ``--epochs`` timed epochs, and are evaluated on the same test set, so a speed-up cannot come
from doing less work. Writes ``reports/bench/<time>/bench.json`` and ``bench.md``.
"""

from __future__ import annotations

import contextlib
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import keras
import numpy as np

from harness.config import ExperimentConfig
from harness.data import SOURCES, flatten
from harness.errors import UserError
from harness.experiments import available, resolve
from harness.optimizers import build_optimizer
from harness.runs import environment, write_json, write_text
from harness.train import XLA_MIN_IMAGES, build_compiled_model, fit, seed_everything
from models.registry import FACTORIES, resolve_spec
from models.spec import MLPSpec

SAMPLES = 60_000
INPUT_DIM = 784


@dataclass
class BenchData:
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class WayResult:
    epoch_seconds: list[float]  # timed epochs only, after the warm-up epoch
    median_epoch_seconds: float
    images_per_second: float
    training_gflops_per_second: float
    peak_memory_mb: float
    test_accuracy: float


def bench_config(name: str, experiments_dir: Path, epochs: int) -> ExperimentConfig:
    """An experiment's model, optimizer and batch size; a bare factory name means basic_dnn's settings."""
    warm_up_and_timed = ["training.early_stopping=null", f"training.epochs={epochs + 1}"]
    if name in available(experiments_dir):
        return resolve(name, experiments_dir, warm_up_and_timed)
    if name in FACTORIES:
        return resolve("basic_dnn", experiments_dir, [f"model={{factory: {name}}}", *warm_up_and_timed])
    known = ", ".join(list(FACTORIES) + available(experiments_dir))
    raise UserError(f"unknown benchmark model {name!r}: give a model factory or an experiment ({known})")


def load_bench_data(samples: int) -> BenchData:
    """Fashion-MNIST when its files are present, else MNIST from the Keras cache, else random pixels."""
    for name in ("fashion_mnist", "mnist"):
        loader, scale, _ = SOURCES[name]
        try:
            (x_train, y_train), (x_test, y_test) = loader(download=False)
        except UserError:
            continue
        x_train, y_train = np.resize(flatten(x_train, scale), (samples, INPUT_DIM)), np.resize(y_train, samples)
        return BenchData(name, x_train, y_train.astype(np.int32), flatten(x_test, scale), y_test.astype(np.int32))
    rng = np.random.default_rng(0)
    x, y = rng.random((samples + 10_000, INPUT_DIM), dtype=np.float32), rng.integers(0, 10, samples + 10_000)
    return BenchData(
        "random (no Fashion-MNIST or MNIST files here)", x[:samples], y[:samples], x[samples:], y[samples:]
    )


def _seed_style_layers(spec: MLPSpec, input_dim: int, num_classes: int) -> keras.Sequential:
    """The notebook's pattern: Sequential, Dense layers with input_shape on the first one."""
    layers = []
    for index, (units, rate) in enumerate(zip(spec.hidden_units, spec.dropout_rates(), strict=True)):
        shape = {"input_shape": (input_dim,)} if index == 0 else {}
        regularizer = keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2) if spec.l1 or spec.l2 else None
        layers.append(keras.layers.Dense(units, activation=spec.activation, kernel_regularizer=regularizer, **shape))
        if rate:
            layers.append(keras.layers.Dropout(rate))
    return keras.Sequential([*layers, keras.layers.Dense(num_classes, activation="softmax")])


def seed_style_model(spec: MLPSpec, input_dim: int, num_classes: int) -> keras.Sequential:
    with warnings.catch_warnings():  # Keras 3 warns about input_shape; the notebook's pattern is the point here
        warnings.simplefilter("ignore", UserWarning)
        return _seed_style_layers(spec, input_dim, num_classes)


def training_gflop_per_epoch(spec: MLPSpec, input_dim: int, num_classes: int, samples: int) -> float:
    """Multiply-adds of one epoch of training: forward, weight gradients, and input gradients below the first layer."""
    widths = [input_dim, *spec.hidden_units, num_classes]
    layer_flops = [2 * fan_in * fan_out for fan_in, fan_out in zip(widths, widths[1:], strict=False)]  # per sample
    per_sample = 2 * sum(layer_flops) + sum(layer_flops[1:])
    return per_sample * samples / 1e9


def matmul_peak_gflops(size: int = 2048, seconds: float = 1.0) -> float:
    """The backend's float32 matrix-multiply rate on a large square product, the machine's practical peak."""
    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.random((size, size), dtype=np.float32))
    b = keras.ops.convert_to_tensor(rng.random((size, size), dtype=np.float32))
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # warm-up
    repeats, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        result = keras.ops.matmul(a, b)
        repeats += 1
    keras.ops.convert_to_numpy(result)
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def reset_peak_memory() -> None:
    """Reset the kernel's high-water mark of resident memory for this process (Linux)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)


@dataclass
class Way:
    """One way of training, advanced an epoch at a time so that the ways can take turns."""

    train_epoch: Callable[[int, EpochTimer], None]  # (epoch index, timer)
    test_accuracy: Callable[[], float]
    timer: EpochTimer = field(default_factory=EpochTimer)
    peak_memory_mb: float = 0.0


def seed_way(config: ExperimentConfig, data: BenchData) -> Way:
    """Keras defaults, as in the notebook: one-hot labels, categorical cross-entropy, NumPy into fit()."""
    seed_everything(config.training.seed, deterministic=False)
    spec = resolve_spec(config.model.factory, **config.model.architecture())
    model = seed_style_model(spec, INPUT_DIM, 10)
    model.compile(optimizer=build_optimizer(config.optimizer), loss="categorical_crossentropy", metrics=["accuracy"])
    y_onehot, y_test_onehot = keras.utils.to_categorical(data.y_train, 10), keras.utils.to_categorical(data.y_test, 10)

    def train_epoch(epoch: int, timer: EpochTimer) -> None:
        model.fit(data.x_train, y_onehot, batch_size=config.training.batch_size, initial_epoch=epoch,
                  epochs=epoch + 1, callbacks=[timer], verbose=0)  # fmt: skip

    return Way(train_epoch, lambda: model.evaluate(data.x_test, y_test_onehot, verbose=0)[1])


def harness_way(config: ExperimentConfig, data: BenchData, jit_compile: bool = True) -> Way:
    """The path every `make experiment` run takes (harness.train.fit), without a validation set, compiled
    as a long run is: with XLA (see harness.train.use_xla)."""
    seed_everything(config.training.seed, deterministic=False)
    model = build_compiled_model(config, INPUT_DIM, 10, jit_compile)

    def train_epoch(epoch: int, timer: EpochTimer) -> None:
        fit(config, model, data.x_train, data.y_train, extra_callbacks=[timer], verbose=0,
            initial_epoch=epoch, epochs=epoch + 1)  # fmt: skip

    return Way(train_epoch, lambda: model.evaluate(data.x_test, data.y_test, verbose=0)[1])


KERAS_STEPS_PER_EXECUTION = 32


def keras_loop_way(config: ExperimentConfig, data: BenchData) -> Way:
    """The harness as it was before harness.epoch_step: sparse labels and XLA, but Keras's own loop of calls,
    32 batches per call (steps_per_execution)."""
    seed_everything(config.training.seed, deterministic=False)
    model = build_compiled_model(config, INPUT_DIM, 10, jit_compile=True, keras_loop_steps=KERAS_STEPS_PER_EXECUTION)

    def train_epoch(epoch: int, timer: EpochTimer) -> None:
        model.fit(data.x_train, data.y_train, batch_size=config.training.batch_size, initial_epoch=epoch,
                  epochs=epoch + 1, callbacks=[timer], verbose=0)  # fmt: skip

    return Way(train_epoch, lambda: model.evaluate(data.x_test, data.y_test, verbose=0)[1])


def race(ways: dict[str, Way], timed_epochs: int, measured: Way) -> list[float]:
    """A warm-up epoch for each way alone (its peak memory), then rounds of timed epochs in turns, order
    rotating. In each round the matrix-multiply peak is measured just before the measured way's epoch and
    returned per round, so that the fraction of it that training reaches compares times taken under the
    same load (the host's speed moves from minute to minute)."""
    for way in ways.values():
        reset_peak_memory()
        way.train_epoch(0, EpochTimer())
        way.peak_memory_mb = peak_memory_mb()
    order, peaks = list(ways.values()), []
    for epoch in range(1, timed_epochs + 1):
        for way in order:
            if way is measured:
                peaks.append(matmul_peak_gflops())
            way.train_epoch(epoch, way.timer)
        order = order[1:] + order[:1]
    return peaks


def fraction_of_peak(way: Way, gflop: float, peaks: list[float]) -> float:
    """Median over rounds of the training rate in that round over the peak measured in that round."""
    rounds = zip(way.timer.seconds, peaks, strict=True)
    return round(statistics.median(gflop / seconds / peak for seconds, peak in rounds), 3)


def summarise(way: Way, samples: int, gflop: float) -> WayResult:
    median = statistics.median(way.timer.seconds)
    return WayResult(
        epoch_seconds=[round(value, 4) for value in way.timer.seconds],
        median_epoch_seconds=round(median, 4),
        images_per_second=round(samples / median, 1),
        training_gflops_per_second=round(gflop / median, 2),
        peak_memory_mb=round(way.peak_memory_mb, 1),
        test_accuracy=round(float(way.test_accuracy()), 4),
    )


def paired_ratio(faster: Way, baseline: Way) -> float:
    """Median over rounds of the per-round time ratio: robust to a noisy neighbour slowing one round."""
    return round(statistics.median(a / b for a, b in zip(faster.timer.seconds, baseline.timer.seconds, strict=True)), 3)


def run_bench(name: str, epochs: int, samples: int, experiments_dir: Path, reports_dir: Path) -> Path:
    config = bench_config(name, experiments_dir, epochs)
    data = load_bench_data(samples)
    spec = resolve_spec(config.model.factory, **config.model.architecture())
    gflop = training_gflop_per_epoch(spec, INPUT_DIM, 10, samples)
    ways = {
        "seed_way": seed_way(config, data),
        "harness_way": harness_way(config, data),
        # What each measure buys: the same path without it.
        "keras_loop_with_xla": keras_loop_way(config, data),
        "harness_without_xla": harness_way(config, data, jit_compile=False),
    }
    peaks = race(ways, epochs, measured=ways["harness_way"])
    summaries = {name: summarise(way, samples, gflop) for name, way in ways.items()}
    results = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "model": config.model.factory,
        "experiment": config.name,
        "optimizer": config.optimizer.model_dump(exclude_none=True),
        "batch_size": config.training.batch_size,
        "samples": samples,
        "data": data.source,
        "timed_epochs": epochs,
        "training_gflop_per_epoch": round(gflop, 2),
        "matmul_peak_gflops": round(statistics.median(peaks), 1),
        "matmul_peak_gflops_per_round": [round(peak, 1) for peak in peaks],
        **{name: asdict(summary) for name, summary in summaries.items()},
        "ratio_harness_over_seed": paired_ratio(ways["harness_way"], ways["seed_way"]),
        "ratios_by_measure": {
            "xla": paired_ratio(ways["harness_way"], ways["harness_without_xla"]),
            "whole_epoch_calls": paired_ratio(ways["harness_way"], ways["keras_loop_with_xla"]),
            # Sparse labels and whole-epoch calls: how the harness trains runs too short for XLA to pay.
            "harness_without_xla_over_seed": paired_ratio(ways["harness_without_xla"], ways["seed_way"]),
        },
        "harness_fraction_of_peak": fraction_of_peak(ways["harness_way"], gflop, peaks),
        "harness_settings": {
            "labels": "sparse integers",
            "calls": "one per epoch, its batches looped inside the compiled step (harness.epoch_step)",
            "jit_compile": f"XLA, as for every run of at least {XLA_MIN_IMAGES:,} training images in all",
        },  # fmt: skip
        "environment": environment(config.training.seed),
    }
    out = reports_dir / "bench" / f"{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "bench.json", results)
    write_text(out / "bench.md", bench_markdown(results))
    return out


def bench_markdown(results: dict) -> str:
    columns = {"seed_way": "seed notebook's way", "harness_without_xla": "harness without XLA",
               "keras_loop_with_xla": f"Keras's loop, {KERAS_STEPS_PER_EXECUTION} steps per call, XLA",
               "harness_way": "harness"}  # fmt: skip
    rows = [
        ("median seconds per epoch", "median_epoch_seconds"),
        ("images per second", "images_per_second"),
        ("training GFLOP/s", "training_gflops_per_second"),
        ("peak resident memory (MB)", "peak_memory_mb"),
        ("test accuracy", "test_accuracy"),
    ]
    table = "\n".join(
        f"| {label} | " + " | ".join(str(results[way][key]) for way in columns) + " |" for label, key in rows
    )
    by_measure = results["ratios_by_measure"]
    return f"""# Training speed: {results["model"]}, {results["samples"]:,} images, batch {results["batch_size"]}

Data: {results["data"]}. {results["timed_epochs"]} timed epochs after one warm-up epoch; backend
{results["environment"]["backend"]} on {results["environment"]["cpu_count"]} CPUs ({results["date"]}).

| | {" | ".join(columns.values())} |
|---|---|---|---|---|
{table}

- ratio harness / seed way: **{results["ratio_harness_over_seed"]}** (median of per-round ratios; the ways take
  turns each epoch); by measure: XLA x{by_measure["xla"]}, a whole epoch per call instead of Keras's loop
  x{by_measure["whole_epoch_calls"]}; without XLA (sparse labels, whole-epoch calls) / seed way:
  x{by_measure["harness_without_xla_over_seed"]}
- training work: {results["training_gflop_per_epoch"]} GFLOP per epoch; float32 matrix-multiply peak measured
  just before the harness's epoch in each round: {results["matmul_peak_gflops_per_round"]} GFLOP/s; the
  harness reaches **{results["harness_fraction_of_peak"]:.0%}** of it (median over rounds of its rate over
  that round's peak)
- harness settings: {results["harness_settings"]}
"""
