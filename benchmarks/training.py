"""Measure the harness's training path against the reference notebook's way, side by side in one process.

    python -m benchmarks training [--model basic_dnn] [--epochs 3]      (or: make bench BENCH_MODEL=simple)

Both ways train the same model with the same optimizer, batch size and samples for one warm-up epoch
plus ``--epochs`` timed epochs, and are evaluated on the same test set, so a speed-up cannot come
from doing less work. Writes ``reports/bench/<time>/bench.json`` and ``bench.md``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path

import keras
import numpy as np

from harness.atomic import write_json, write_text
from harness.config.experiments import available, resolve
from harness.config.schema import ExperimentConfig
from harness.data.datasets import as_images
from harness.data.sources import DATASETS
from harness.errors import UserError
from harness.records import environment
from harness.training.optimizers import build_optimizer
from harness.training.train import (
    XLA_MIN_IMAGES,
    build_compiled_model,
    build_model,
    compile_for_training,
    fit,
    seed_everything,
    use_xla,
)
from models.registry import MODELS, find_builder

SAMPLES = 60_000
IMAGE_SHAPE = (28, 28, 1)
INPUT_DIM = 784


@dataclass
class BenchData:
    source: str
    x_train: np.ndarray  # images, (n, 28, 28, 1) in [0, 1]
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def flat(self, x: np.ndarray) -> np.ndarray:
        """One row of 784 inputs per image: what the reference notebook feeds its Sequential."""
        return x.reshape(len(x), -1)


@dataclass
class WayResult:
    epoch_seconds: list[float]  # timed epochs only, after the warm-up epoch
    median_epoch_seconds: float
    images_per_second: float
    training_gflops_per_second: float
    peak_memory_mb: float
    test_accuracy: float


def bench_config(name: str, experiments_dir: Path, epochs: int) -> ExperimentConfig:
    """An experiment's model, optimizer and batch size; a bare model's name means basic_dnn's other settings."""
    warm_up_and_timed = ["training.early_stopping=null", f"training.epochs={epochs + 1}"]
    if name in available(experiments_dir):
        return resolve(name, experiments_dir, warm_up_and_timed)
    if name in MODELS:
        return resolve("basic_dnn", experiments_dir, [f"model={{builder: {name}}}", *warm_up_and_timed])
    known = ", ".join(list(MODELS) + available(experiments_dir))
    raise UserError(f"unknown benchmark model {name!r}: give a model or an experiment ({known})")


def load_bench_data(samples: int) -> BenchData:
    """Fashion-MNIST when its files are present, else MNIST from the Keras cache, else random pixels."""
    for name in ("fashion_mnist", "mnist"):
        try:
            examples = DATASETS[name].read(None, False)
        except UserError:
            continue
        x_train = np.resize(as_images(examples.x_train, examples.brightest), (samples, *IMAGE_SHAPE))
        x_test, y_train = as_images(examples.x_test, examples.brightest), np.resize(examples.y_train, samples)
        return BenchData(name, x_train, y_train.astype(np.int32), x_test, examples.y_test.astype(np.int32))
    rng = np.random.default_rng(0)
    x, y = rng.random((samples + 10_000, *IMAGE_SHAPE), dtype=np.float32), rng.integers(0, 10, samples + 10_000)
    return BenchData(
        "random (no Fashion-MNIST or MNIST files here)", x[:samples], y[:samples], x[samples:], y[samples:]
    )


def is_mlp(config: ExperimentConfig) -> bool:
    """Whether the model is the reference notebook's multilayer perceptron (models/mlp.py), which the notebook
    builds its own way."""
    return find_builder(config.model.builder)[0].__module__ == "models.mlp"


def _reference_style_layers(parameters: dict, input_dim: int, num_classes: int) -> keras.Sequential:
    """The notebook's pattern: Sequential, Dense layers with input_shape on the first one."""
    from models.mlp import dropout_rates

    layers, l1, l2 = [], parameters["l1"], parameters["l2"]
    rates = dropout_rates(parameters["hidden_units"], parameters["dropout"])
    for index, (units, rate) in enumerate(zip(parameters["hidden_units"], rates, strict=True)):
        shape = {"input_shape": (input_dim,)} if index == 0 else {}
        regularizer = keras.regularizers.L1L2(l1=l1, l2=l2) if l1 or l2 else None
        layers.append(
            keras.layers.Dense(units, activation=parameters["activation"], kernel_regularizer=regularizer, **shape)
        )
        if rate:
            layers.append(keras.layers.Dropout(rate))
    return keras.Sequential([*layers, keras.layers.Dense(num_classes, activation="softmax")])


def reference_style_model(parameters: dict, input_dim: int, num_classes: int) -> keras.Sequential:
    with warnings.catch_warnings():  # Keras 3 warns about input_shape; the notebook's pattern is the point here
        warnings.simplefilter("ignore", UserWarning)
        return _reference_style_layers(parameters, input_dim, num_classes)


def _forward_flops(model: keras.Model) -> list[int]:
    """Multiply-adds of each Dense and Conv2D layer for one example, in order."""
    flops = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            flops.append(2 * layer.kernel.shape[0] * layer.kernel.shape[1])
        elif isinstance(layer, keras.layers.Conv2D):
            height, width = layer.output.shape[1:3]
            flops.append(2 * height * width * int(np.prod(layer.kernel.shape)))
    return flops


def training_gflop_per_epoch(model: keras.Model, samples: int) -> float:
    """Multiply-adds of one epoch of training: forward, weight gradients, and input gradients below the first layer."""
    flops = _forward_flops(model)
    return (2 * sum(flops) + sum(flops[1:])) * samples / 1e9


def matmul_gflops(rows: int, inner: int, columns: int, seconds: float = 1.0) -> float:
    """The backend's float32 rate multiplying a (rows x inner) by an (inner x columns) matrix, over `seconds`."""
    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.random((rows, inner), dtype=np.float32))
    b = keras.ops.convert_to_tensor(rng.random((inner, columns), dtype=np.float32))
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b))  # warm-up
    repeats, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        result = keras.ops.matmul(a, b)
        repeats += 1
    keras.ops.convert_to_numpy(result)
    return 2 * rows * inner * columns * repeats / (time.perf_counter() - started) / 1e9


def matmul_peak_gflops(size: int = 2048) -> float:
    """The rate on a large square product: the machine's practical float32 peak."""
    return matmul_gflops(size, size, size)


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

    fit_epoch: Callable[[int, EpochTimer], None]  # (epoch index, timer)
    test_accuracy: Callable[[], float]
    seconds: list[float] = field(default_factory=list)  # the timed epochs'
    peak_memory_mb: float = 0.0

    def train_epoch(self, epoch: int) -> float:
        timer = EpochTimer()
        self.fit_epoch(epoch, timer)
        return timer.seconds[-1]

    def warm_up(self) -> float:
        """Train the first epoch (tracing, compiling); the process's peak memory while it ran."""
        reset_peak_memory()
        self.train_epoch(0)
        return peak_memory_mb()


def reference_way(config: ExperimentConfig, data: BenchData) -> Way:
    """Keras defaults, as in the notebook: one-hot labels, categorical cross-entropy, NumPy into fit(). The
    reference notebook's MLP is its own Sequential of flat inputs; any other model is the same builder's, fed images."""
    seed_everything(config.training.seed, deterministic=False)
    mlp = is_mlp(config)
    model = (
        reference_style_model(config.model.parameters, INPUT_DIM, 10) if mlp else build_model(config, IMAGE_SHAPE, 10)
    )
    model.compile(optimizer=build_optimizer(config.optimizer), loss="categorical_crossentropy", metrics=["accuracy"])
    y_onehot, y_test_onehot = keras.utils.to_categorical(data.y_train, 10), keras.utils.to_categorical(data.y_test, 10)
    x_train, x_test = (data.flat(data.x_train), data.flat(data.x_test)) if mlp else (data.x_train, data.x_test)

    def fit_epoch(epoch: int, timer: EpochTimer) -> None:
        model.fit(
            x_train,
            y_onehot,
            batch_size=config.training.batch_size,
            initial_epoch=epoch,
            epochs=epoch + 1,
            callbacks=[timer],
            verbose=0,
        )

    return Way(fit_epoch, lambda: model.evaluate(x_test, y_test_onehot, verbose=0)[1])


def harness_way(config: ExperimentConfig, data: BenchData, jit_compile: bool | None = None) -> Way:
    """The path every `make experiment` run takes (harness.training.train.fit), without a validation set, compiled
    as a run of this many images is (harness.training.train.use_xla: with XLA, unless the model has dropout)."""
    seed_everything(config.training.seed, deterministic=False)
    model = build_model(config, IMAGE_SHAPE, 10)
    xla = use_xla(config, len(data.y_train), model) if jit_compile is None else jit_compile
    model = compile_for_training(model, config, xla)

    def fit_epoch(epoch: int, timer: EpochTimer) -> None:
        fit(
            config,
            model,
            data.x_train,
            data.y_train,
            extra_callbacks=[timer],
            verbose=0,
            initial_epoch=epoch,
            epochs=epoch + 1,
        )

    return Way(fit_epoch, lambda: model.evaluate(data.x_test, data.y_test, verbose=0)[1])


def bfloat16_way(config: ExperimentConfig, data: BenchData) -> Way:
    """The harness's path with `training.precision: mixed_bfloat16`."""
    training = config.training.model_copy(update={"precision": "mixed_bfloat16"})
    return harness_way(config.model_copy(update={"training": training}), data)


KERAS_STEPS_PER_EXECUTION = 32


def keras_loop_way(config: ExperimentConfig, data: BenchData) -> Way:
    """The harness as it was before harness.training.epoch_step: sparse labels and XLA, but Keras's own loop of calls,
    32 batches per call (steps_per_execution)."""
    seed_everything(config.training.seed, deterministic=False)
    model = build_compiled_model(config, IMAGE_SHAPE, 10, jit_compile=True, keras_loop_steps=KERAS_STEPS_PER_EXECUTION)

    def fit_epoch(epoch: int, timer: EpochTimer) -> None:
        model.fit(
            data.x_train,
            data.y_train,
            batch_size=config.training.batch_size,
            initial_epoch=epoch,
            epochs=epoch + 1,
            callbacks=[timer],
            verbose=0,
        )

    return Way(fit_epoch, lambda: model.evaluate(data.x_test, data.y_test, verbose=0)[1])


# ---------------------------------------------------------------- ways on the other backend

OTHER_BACKEND = {"tensorflow": "jax", "jax": "tensorflow"}
BACKEND_MODULE = {"tensorflow": "tensorflow", "jax": "jax"}
REMOTE_WAYS = {"reference_way": reference_way, "harness_way": harness_way}  # built in the other backend's process


class RemoteWay(Way):
    """A way that lives in a process of the other backend (a process cannot switch backends); each epoch
    is trained there on command, so the ways still take turns and never train at the same time."""

    def __init__(self, connection: Connection, name: str):
        super().__init__(fit_epoch=None, test_accuracy=lambda: self._ask("accuracy"))
        self.connection, self.name = connection, name

    def _ask(self, command: str, *arguments):
        self.connection.send((command, self.name, *arguments))
        return self.connection.recv()

    def train_epoch(self, epoch: int) -> float:
        return self._ask("train", epoch)

    def warm_up(self) -> float:
        return self._ask("warm_up")


def serve_ways(connection: Connection, name: str, epochs: int, samples: int, experiments_dir: Path) -> None:
    """The other backend's process: build REMOTE_WAYS, then train, warm up or evaluate them as told."""
    config, data = bench_config(name, experiments_dir, epochs), load_bench_data(samples)
    ways = {way: build(config, data) for way, build in REMOTE_WAYS.items()}
    connection.send(keras.backend.backend())
    actions = {"train": Way.train_epoch, "warm_up": Way.warm_up, "accuracy": lambda way: way.test_accuracy()}
    while (command := connection.recv()) != "stop":
        action, way, *arguments = command
        connection.send(actions[action](ways[way], *arguments))


@contextlib.contextmanager
def _environment(**values: str):
    """Environment variables set for a while (a spawned process inherits them), then as they were."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def other_backend_ways(name: str, epochs: int, samples: int, experiments_dir: Path):
    """{"reference_way_<backend>": ..., "harness_on_<backend>": ...} for the backend this process does not run,
    or {} when it is not installed."""
    backend = OTHER_BACKEND[keras.backend.backend()]
    if importlib.util.find_spec(BACKEND_MODULE[backend]) is None:
        yield {}
        return
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    with _environment(KERAS_BACKEND=backend):  # read by Keras in the new process
        process = context.Process(target=serve_ways, args=(child, name, epochs, samples, experiments_dir))
        process.start()
    try:
        if parent.recv() != backend:
            raise RuntimeError(f"the benchmark's second process did not start on {backend}")
        yield {
            f"reference_way_{backend}": RemoteWay(parent, "reference_way"),
            f"harness_on_{backend}": RemoteWay(parent, "harness_way"),
        }
        parent.send("stop")
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()


def race(ways: dict[str, Way], timed_epochs: int, measured: Way) -> list[float]:
    """A warm-up epoch for each way alone (its peak memory), then rounds of timed epochs in turns, order
    rotating. In each round the matrix-multiply peak is measured just before the measured way's epoch and
    returned per round, so that the fraction of it that training reaches compares times taken under the
    same load (the host's speed moves from minute to minute)."""
    for way in ways.values():
        way.peak_memory_mb = way.warm_up()
    order, peaks = list(ways.values()), []
    for epoch in range(1, timed_epochs + 1):
        for way in order:
            if way is measured:
                peaks.append(matmul_peak_gflops())
            way.seconds.append(way.train_epoch(epoch))
        order = order[1:] + order[:1]
    return peaks


def fraction_of_peak(way: Way, gflop: float, peaks: list[float]) -> float:
    """Median over rounds of the training rate in that round over the peak measured in that round."""
    rounds = zip(way.seconds, peaks, strict=True)
    return round(statistics.median(gflop / seconds / peak for seconds, peak in rounds), 3)


def summarise(way: Way, samples: int, gflop: float) -> WayResult:
    median = statistics.median(way.seconds)
    return WayResult(
        epoch_seconds=[round(value, 4) for value in way.seconds],
        median_epoch_seconds=round(median, 4),
        images_per_second=round(samples / median, 1),
        training_gflops_per_second=round(gflop / median, 2),
        peak_memory_mb=round(way.peak_memory_mb, 1),
        test_accuracy=round(float(way.test_accuracy()), 4),
    )


def paired_ratio(faster: Way, baseline: Way) -> float:
    """Median over rounds of the per-round time ratio: robust to a noisy neighbour slowing one round."""
    return round(statistics.median(a / b for a, b in zip(faster.seconds, baseline.seconds, strict=True)), 3)


def _ratios(ways: dict[str, Way], fastest_seed: str) -> dict:
    return {
        "ratio_harness_over_seed": paired_ratio(ways["harness_way"], ways["reference_way"]),
        "faster_reference_way": fastest_seed,
        "ratio_harness_over_faster_reference_way": paired_ratio(ways["harness_way"], ways[fastest_seed]),
        "ratios_by_measure": {
            "xla": paired_ratio(ways["harness_way"], ways["harness_without_xla"]),
            "whole_epoch_calls": paired_ratio(ways["harness_way"], ways["keras_loop_with_xla"]),
            # Sparse labels and whole-epoch calls: how the harness trains runs too short for XLA to pay.
            "harness_without_xla_over_seed": paired_ratio(ways["harness_without_xla"], ways["reference_way"]),
            "bfloat16": paired_ratio(ways["harness_bfloat16"], ways["harness_way"]),
        },
    }


def _harness_settings(config: ExperimentConfig, samples: int, model: keras.Model) -> dict:
    compiled = f"XLA, as for every run of at least {XLA_MIN_IMAGES:,} training images in all (without dropout)"
    without = "no XLA: the model draws random numbers (dropout, augmentation: use_xla)"
    return {
        "labels": "sparse integers",
        "calls": "one per epoch, its batches looped inside the compiled step (harness.training.epoch_step)",
        "jit_compile": compiled if use_xla(config, samples, model) else without,
    }


def widest_product(model: keras.Model, batch_size: int) -> tuple[int, int, int]:
    """The matrix product of the model's costliest layer at this batch size (a convolution as its im2col product):
    the rate the machine reaches on it is the ceiling for layers that size."""
    costliest, best = None, -1
    for layer, flops in zip(
        [layer for layer in model.layers if isinstance(layer, keras.layers.Dense | keras.layers.Conv2D)],
        _forward_flops(model),
        strict=True,
    ):
        if flops > best:
            costliest, best = layer, flops
    if isinstance(costliest, keras.layers.Dense):
        return batch_size, costliest.kernel.shape[0], costliest.kernel.shape[1]
    height, width = costliest.output.shape[1:3]
    return batch_size * height * width, int(np.prod(costliest.kernel.shape[:3])), costliest.kernel.shape[3]


def _race_every_way(
    config: ExperimentConfig, data: BenchData, gflop: float, name: str, epochs: int, experiments_dir: Path
) -> tuple[dict[str, Way], dict[str, dict], list[float]]:
    """Every way built and raced; their summaries, and the matrix-multiply peak of each round."""
    ways = {
        "reference_way": reference_way(config, data),
        "harness_way": harness_way(config, data),
        "harness_bfloat16": bfloat16_way(config, data),
        # What each measure buys: the same path without it.
        "keras_loop_with_xla": keras_loop_way(config, data),
        "harness_without_xla": harness_way(config, data, jit_compile=False),
    }
    samples = len(data.y_train)
    with other_backend_ways(name, epochs, samples, experiments_dir) as others:
        ways |= others
        peaks = race(ways, epochs, measured=ways["harness_way"])
        summaries = {way: asdict(summarise(race_way, samples, gflop)) for way, race_way in ways.items()}
    return ways, summaries, peaks


def run_bench(name: str, epochs: int, samples: int, experiments_dir: Path, reports_dir: Path) -> Path:
    config, data = bench_config(name, experiments_dir, epochs), load_bench_data(samples)
    model = build_model(config, IMAGE_SHAPE, 10)
    gflop = training_gflop_per_epoch(model, samples)
    ways, summaries, peaks = _race_every_way(config, data, gflop, name, epochs, experiments_dir)
    # The ceiling for this model's layers: its costliest layer's product at the run's batch size.
    batch_rate = matmul_gflops(*widest_product(model, config.training.batch_size))
    reference_ways = [way for way in summaries if way.startswith("reference_way")]
    fastest_seed = min(reference_ways, key=lambda way: summaries[way]["median_epoch_seconds"])
    results = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "model": config.model.builder,
        "experiment": config.name,
        "optimizer": config.optimizer.model_dump(exclude_none=True),
        "batch_size": config.training.batch_size,
        "samples": samples,
        "data": data.source,
        "timed_epochs": epochs,
        "training_gflop_per_epoch": round(gflop, 2),
        "matmul_peak_gflops": round(statistics.median(peaks), 1),
        "matmul_peak_gflops_per_round": [round(peak, 1) for peak in peaks],
        "batch_matmul_gflops": round(batch_rate, 1),
        "ways": list(summaries),
        **summaries,
        **_ratios(ways, fastest_seed),
        "harness_fraction_of_peak": fraction_of_peak(ways["harness_way"], gflop, peaks),
        "harness_fraction_of_batch_matmul": round(
            summaries["harness_way"]["training_gflops_per_second"] / batch_rate, 3
        ),
        "harness_settings": _harness_settings(config, samples, model),
        "environment": environment(config.training.seed),
    }
    out = reports_dir / "bench" / f"{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "bench.json", results)
    write_text(out / "bench.md", bench_markdown(results))
    return out


WAY_LABELS = {
    "reference_way": "reference notebook's way",
    "reference_way_jax": "reference way on JAX",
    "reference_way_tensorflow": "reference way on TensorFlow",
    "harness_without_xla": "harness without XLA",
    "keras_loop_with_xla": f"Keras's loop, {KERAS_STEPS_PER_EXECUTION} steps per call, XLA",
    "harness_bfloat16": "harness, mixed_bfloat16",
    "harness_on_jax": "harness on JAX",
    "harness_on_tensorflow": "harness on TensorFlow",
    "harness_way": "harness",
}


def bench_markdown(results: dict) -> str:
    columns = sorted(results["ways"], key=list(WAY_LABELS).index)
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
    backend = results["environment"]["backend"]
    return f"""# Training speed: {results["model"]}, {results["samples"]:,} images, batch {results["batch_size"]}

Data: {results["data"]}. {results["timed_epochs"]} timed epochs after one warm-up epoch; backend {backend}
(the other backend's ways in a second process, taking their turns) on {results["environment"]["cpu_count"]} CPUs
({results["date"]}).

| | {" | ".join(WAY_LABELS[way] for way in columns)} |
|{"---|" * (len(columns) + 1)}
{table}

- ratio harness / the faster reference way ({WAY_LABELS[results["faster_reference_way"]]}):
  **{results["ratio_harness_over_faster_reference_way"]}**; harness / reference way on {backend}:
  **{results["ratio_harness_over_seed"]}** (medians of per-round ratios; the ways take turns each epoch)
- by measure: XLA x{by_measure["xla"]}, a whole epoch per call instead of Keras's loop
  x{by_measure["whole_epoch_calls"]}; without XLA (sparse labels, whole-epoch calls) / reference way:
  x{by_measure["harness_without_xla_over_seed"]}; mixed_bfloat16 / float32 x{by_measure["bfloat16"]}
- training work: {results["training_gflop_per_epoch"]} GFLOP per epoch; float32 matrix-multiply peak measured
  just before the harness's epoch in each round: {results["matmul_peak_gflops_per_round"]} GFLOP/s; the
  harness reaches **{results["harness_fraction_of_peak"]:.0%}** of it (median over rounds of its rate over
  that round's peak), and {results["harness_fraction_of_batch_matmul"]:.0%} of the rate of the model's
  widest product at its batch size ({results["batch_size"]} x {INPUT_DIM} by {INPUT_DIM} x the first layer's
  width, {results["batch_matmul_gflops"]} GFLOP/s): the ceiling for layers this small
- harness settings: {results["harness_settings"]}
"""
