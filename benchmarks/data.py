"""`make bench-data`: the harness on image folders and tables at real sizes, side by side in one session with what a
Keras user writes instead.

    make bench-data        (python -m benchmarks data [--sizes 10000 100000] [--rows 1000000 10000000])

It makes synthetic inputs once (folders of 64x64 colour PNGs in ten classes; CSV tables of 20 numbers, a text column
and a three-class target), kept in reports/bench/data-inputs/ for later runs of the bench, and then measures each in a
process of its own (benchmarks.data_probe; peak memory is the process's largest resident set, from wait4):

- the harness: the first decode (an empty cache), then a later run in memory and a later run streamed, each two
  epochs of a small model (flatten, dense 64, softmax) at batch 128: the time from loading to the first batch, each
  epoch's examples per second, peak memory; every harness process under an open-file limit of 256;
- the same process on 100 images, whose peak the others' are measured against;
- what a user writes instead: keras.utils.image_dataset_from_directory + fit, and pandas.read_csv + fit for tables.

Writes reports/bench/data-<time>/data.json and data.md, with each target of the issue it answers checked.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np

from benchmarks.suite import timed
from harness.atomic import write_json, write_text

CHECKOUT = Path(__file__).resolve().parents[1]
OPEN_FILES = 256  # the harness's processes run under this open-file limit (macOS's default; Linux's is often 1024)
IMAGE_SIZE = 64
BASELINE_IMAGES = 100


def run_bench_data(reports_dir: Path, sizes: list[int], rows: list[int], epochs: int, batch_size: int) -> Path:
    out = reports_dir / "bench" / f"data-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True)
    inputs = reports_dir / "bench" / "data-inputs"
    probe = Probe(out, epochs, batch_size)
    baseline_folder = image_folder(inputs / f"images-{BASELINE_IMAGES}", BASELINE_IMAGES)
    print(f"the process on {BASELINE_IMAGES} images (the baseline of peak memory)", flush=True)
    probe.harness("images", baseline_folder, "baseline-decode", "stream")
    results = {"baseline": probe.harness("images", baseline_folder, "baseline", "stream"), "images": {}, "tables": {}}
    for size in sizes:
        print(f"{size:,} images: making the folder (once), then each side", flush=True)
        results["images"][size] = image_sides(probe, image_folder(inputs / f"images-{size}", size), size)
    for count in rows:
        print(f"{count:,} rows: making the table (once), then each side", flush=True)
        results["tables"][count] = table_sides(probe, table_file(inputs / f"table-{count}.csv", count), count)
    results |= {"date": datetime.now().isoformat(timespec="seconds"), "epochs": epochs, "batch_size": batch_size}
    write_json(out / "data.json", results)
    write_text(out / "data.md", markdown(results))
    return out


class Probe:
    """Runs benchmarks.data_probe sides in processes of their own, each with its log, and returns their figures with
    the process's wall seconds and peak memory."""

    def __init__(self, out: Path, epochs: int, batch_size: int):
        self.out, self.epochs, self.batch_size = out, epochs, batch_size

    def harness(self, kind: str, path: Path, tag: str, mode: str) -> dict:
        cache = self.out / f"cache-{path.name}"
        return self._run(["harness", kind, str(path), "--input", mode], tag, {"KERAS_HARNESS_CACHE": str(cache)})

    def peer(self, side: str, kind: str, path: Path, tag: str) -> dict:
        return self._run([side, kind, str(path)], tag, {})

    def _run(self, words: list[str], tag: str, environment: dict) -> dict:
        command = [sys.executable, "-m", "benchmarks.data_probe", *words, "--epochs", str(self.epochs)]
        command += ["--batch-size", str(self.batch_size), "--experiments-dir", str(CHECKOUT / "experiments")]
        log = self.out / f"{tag}.log"
        limit = _open_file_limit if words[0] == "harness" else None
        timing = timed(command, log, {"TF_CPP_MIN_LOG_LEVEL": "2"} | environment, limit)
        line = next(line for line in log.read_text().splitlines() if line.startswith("RESULT "))
        figures = json.loads(line.removeprefix("RESULT "))
        return figures | {"wall_seconds": timing["seconds"], "peak_memory_mb": timing["peak_memory_mb"]}


def _open_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


def image_sides(probe: Probe, folder: Path, size: int) -> dict:
    sides = {
        "first_decode": probe.harness("images", folder, f"images-{size}-first", "stream"),
        "memory": probe.harness("images", folder, f"images-{size}-memory", "memory"),
        "stream": probe.harness("images", folder, f"images-{size}-stream", "stream"),
        "keras": probe.peer("keras", "images", folder, f"images-{size}-keras"),
    }
    for side in ("memory", "stream"):
        sides[side]["examples_per_second"] = per_second(sides[side]["examples"], sides[side]["epoch_seconds"])
    sides["keras"]["examples_per_second"] = per_second(size, sides["keras"]["epoch_seconds"])
    sides["uint8_mb"] = round(size * IMAGE_SIZE * IMAGE_SIZE * 3 / 2**20, 1)
    sides["folder_mb"] = round(sum(path.stat().st_size for path in folder.rglob("*.png")) / 2**20, 1)
    return sides


def table_sides(probe: Probe, path: Path, count: int) -> dict:
    sides = {
        "first_encode": probe.harness("table", path, f"table-{count}-first", "stream"),
        "memory": probe.harness("table", path, f"table-{count}-memory", "memory"),
        "stream": probe.harness("table", path, f"table-{count}-stream", "stream"),
        "pandas": probe.peer("pandas", "table", path, f"table-{count}-pandas"),
    }
    for side in ("memory", "stream", "pandas"):
        sides[side]["examples_per_second"] = per_second(sides[side]["examples"], sides[side]["epoch_seconds"])
    features = 20 + 5  # 20 numbers and a text column of five values, one-hot
    sides["encoded_float32_mb"] = round(count * features * 4 / 2**20, 1)
    sides["csv_mb"] = round(path.stat().st_size / 2**20, 1)
    return sides


def per_second(examples: int, epoch_seconds: list[float]) -> float:
    """Examples a second over the epochs after the first (which also compiles), or the only one."""
    seconds = epoch_seconds[1:] or epoch_seconds
    return round(examples * len(seconds) / sum(seconds), 1)


# ---------------------------------------------------------------- inputs


def image_folder(folder: Path, count: int) -> Path:
    """`count` 64x64 colour PNGs in ten class folders (a class's colour gradient with noise), made once."""
    done = folder / ".complete"
    if done.is_file():
        return folder
    blocks = [(folder, start, min(start + 2000, count)) for start in range(0, count, 2000)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(_write_images, blocks))
    done.write_text(str(count))
    return folder


def _write_images(block: tuple[Path, int, int]) -> None:
    from PIL import Image

    folder, start, end = block
    rng = np.random.default_rng(start)
    ramp = np.linspace(0, 1, IMAGE_SIZE)[None, :, None]
    for index in range(start, end):
        label = index % 10
        colour = np.array([label * 25, 255 - label * 25, (label * 70) % 256])
        pixels = ramp * colour + rng.integers(0, 24, (IMAGE_SIZE, IMAGE_SIZE, 3))
        target = folder / f"class_{label}"
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(target / f"{index:07d}.png")


def table_file(path: Path, count: int) -> Path:
    """A CSV of `count` rows: 20 numbers (shifted by the row's class), a text column of five values, a target of
    three classes; made once, a million rows at a time."""
    if path.is_file() and path.with_suffix(".complete").is_file():
        return path
    import pyarrow as pa
    import pyarrow.csv as pcsv

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with pcsv.CSVWriter(path, _table_schema()) as writer:
        for start in range(0, count, 1_000_000):
            rows = min(1_000_000, count - start)
            labels = rng.integers(0, 3, rows)
            columns = {f"x{index}": rng.normal(size=rows) + labels * (index % 3) * 0.3 for index in range(20)}
            columns["colour"] = np.array(["red", "green", "blue", "black", "white"])[rng.integers(0, 5, rows)]
            columns["target"] = np.array(["a", "b", "c"])[labels]
            writer.write_table(pa.table(columns, schema=_table_schema()))
    path.with_suffix(".complete").write_text(str(count))
    return path


def _table_schema():
    import pyarrow as pa

    return pa.schema(
        [(f"x{index}", pa.float64()) for index in range(20)] + [("colour", pa.string()), ("target", pa.string())]
    )


# ---------------------------------------------------------------- the page


def markdown(results: dict) -> str:
    baseline = results["baseline"]["peak_memory_mb"]
    lines = [
        f"# Data at its real size ({results['date']}; {results['epochs']} epochs, batch {results['batch_size']})",
        "",
        f"Peak memory is each process's largest resident set; 'above' is above the same process on "
        f"{BASELINE_IMAGES} images ({baseline:,.0f} MB). Examples a second: the epochs after the first.",
        "",
        "| images | first decode | later run: to the first batch, memory / stream | peak above, memory / stream "
        "| examples/s: memory / stream / Keras's image_dataset_from_directory | Keras's peak |",
        "|---|---|---|---|---|---|",
    ]
    for size, sides in results["images"].items():
        memory, stream, keras = sides["memory"], sides["stream"], sides["keras"]
        lines.append(
            f"| {int(size):,} ({sides['folder_mb']} MB of PNG, {sides['uint8_mb']} MB as uint8) "
            f"| {sides['first_decode']['load_seconds']} s, {sides['first_decode']['peak_memory_mb']:,.0f} MB "
            f"| {memory['first_batch_seconds']} s / {stream['first_batch_seconds']} s "
            f"| {memory['peak_memory_mb'] - baseline:,.0f} / {stream['peak_memory_mb'] - baseline:,.0f} MB "
            f"| {memory['examples_per_second']:,.0f} / {stream['examples_per_second']:,.0f} / "
            f"{keras['examples_per_second']:,.0f} | {keras['peak_memory_mb']:,.0f} MB |"
        )
    lines += [
        "",
        "| rows | first read and encode | later run: load, to the first batch | peak above, memory / stream "
        "| examples/s: memory / stream / pandas.read_csv + fit | pandas' peak, load |",
        "|---|---|---|---|---|---|",
    ]
    for count, sides in results["tables"].items():
        memory, stream, pandas = sides["memory"], sides["stream"], sides["pandas"]
        lines.append(
            f"| {int(count):,} ({sides['csv_mb']} MB of CSV, {sides['encoded_float32_mb']} MB encoded) "
            f"| {sides['first_encode']['load_seconds']} s, {sides['first_encode']['peak_memory_mb']:,.0f} MB "
            f"| {memory['load_seconds']} s, {memory['first_batch_seconds']} s "
            f"| {memory['peak_memory_mb'] - baseline:,.0f} / {stream['peak_memory_mb'] - baseline:,.0f} MB "
            f"| {memory['examples_per_second']:,.0f} / {stream['examples_per_second']:,.0f} / "
            f"{pandas['examples_per_second']:,.0f} | {pandas['peak_memory_mb']:,.0f} MB, {pandas['load_seconds']} s |"
        )
    return "\n".join(lines) + "\n"
