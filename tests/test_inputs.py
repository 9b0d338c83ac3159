"""Examples reach the model in memory or streamed from the cache (training.input), drawing the same batches in the same
order, so the choice changes the memory a run takes and never its numbers; env.json says which ran."""

import json

import numpy as np
import pandas as pd
import pytest

from harness.config.schema import DatasetConfig
from harness.data.datasets import load_dataset
from harness.training.inputs import EpochOrder, input_mode, rows_per_part
from tests.conftest import run_dirs, run_harness

A_BATCH_A_PART = ["--set", "training.input=stream", "--set", "training.memory_budget_gb=0.0001"]


def _run(reports, *settings):
    result = run_harness("run", "combined", "--dataset", "digits", "--epochs", "3", *settings, reports=reports)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(reports)
    history = pd.read_csv(run_dir / "history.csv").drop(columns="seconds")
    return history, (run_dir / "predictions.csv").read_text(), json.loads((run_dir / "env.json").read_text())


@pytest.mark.parametrize("deterministic", ["true", "false"])
def test_a_streamed_run_trains_to_the_numbers_of_the_same_run_in_memory(tmp_path, deterministic):
    settings = ("--set", f"training.deterministic={deterministic}")
    memory = _run(tmp_path / "memory", *settings, "--set", "training.input=memory")
    streamed = _run(tmp_path / "stream", *settings, *A_BATCH_A_PART)
    pd.testing.assert_frame_equal(memory[0], streamed[0])  # every epoch's loss and accuracy, to the last bit
    assert memory[1] == streamed[1]  # every prediction
    assert (memory[2]["input"], streamed[2]["input"]) == ("memory", "stream")


def test_auto_streams_what_is_beyond_the_memory_budget():
    assert input_mode("auto", 10 * 2**20, budget_gb=1) == "memory"
    assert input_mode("auto", 2 * 2**30, budget_gb=1) == "stream"
    assert input_mode("memory", 2 * 2**30, budget_gb=1) == "memory"
    assert rows_per_part("stream", 10_000, 1000, 128, True, part=1_000_000) == 7 * 128  # whole batches
    assert rows_per_part("memory", 10_000, 1000, 128, True, part=1_000_000) == 10_000  # the epoch in one piece
    assert rows_per_part("stream", 10_000, 1000, 128, False, part=1_000_000) == 128  # Keras's own loop


def test_the_epochs_order_depends_only_on_the_seed_and_the_epoch_and_its_parts_are_whole_batches():
    data = load_dataset(DatasetConfig(name="digits"))
    whole = EpochOrder(data.x_train, data.y_train, seed=3, rows=len(data.y_train), epoch=2)
    parts = EpochOrder(data.x_train, data.y_train, seed=3, rows=256, epoch=2)
    joined = np.concatenate([parts[index][1] for index in range(len(parts))])
    assert np.array_equal(whole[0][1], joined)
    parts.epoch = 3
    assert not np.array_equal(parts[0][1], whole[0][1][:256])
    assert whole[0][0].dtype == np.uint8  # pixels stay bytes until the model's step scales them
