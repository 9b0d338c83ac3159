"""`make sweep GRID=... [RANDOM=N]`: the grid's syntax, its points, and bad grids failing before training."""

import re

import pytest

from harness.config.grid import Range, as_override, grid_points, parse_axes, random_points
from harness.errors import UserError
from harness.groups.plan import parse_seeds
from harness.surface import command_line
from tests.conftest import harness_command, run_harness


def test_a_grid_is_every_combination_with_values_read_as_yaml():
    axes = parse_axes("model.l2=0.0001,0.001,0.01 training.batch_size=64,128", random=False)
    points = grid_points(axes)
    assert len(points) == 6
    assert points[0] == {"model.l2": 0.0001, "training.batch_size": 64}
    assert points[-1] == {"model.l2": 0.01, "training.batch_size": 128}
    lists = parse_axes("model.hidden_units=[256,128],[64] optimizer.learning_rate=1e-4", random=False)
    assert lists == {"model.hidden_units": [[256, 128], [64]], "optimizer.learning_rate": [0.0001]}
    assert as_override("model.hidden_units", [256, 128]) == "model.hidden_units=[256, 128]"


def test_random_points_stay_in_their_ranges_and_repeat_with_the_same_seed():
    axes = parse_axes("optimizer.learning_rate=1e-4:1e-1:log training.batch_size=16:256 optimizer.name=adam,sgd", True)
    assert axes["optimizer.learning_rate"] == Range(1e-4, 1e-1, log=True, integer=False)
    points = random_points(axes, 200, seed=0)
    rates = [point["optimizer.learning_rate"] for point in points]
    assert all(1e-4 <= rate <= 1e-1 for rate in rates)
    assert sum(rate < 1e-3 for rate in rates) > 40  # log-uniform: a third of the samples per decade
    assert all(isinstance(point["training.batch_size"], int) for point in points)
    assert {point["optimizer.name"] for point in points} == {"adam", "sgd"}
    assert random_points(axes, 5, seed=0) == points[:5] and random_points(axes, 5, seed=1) != points[:5]


@pytest.mark.parametrize(
    ("grid", "random", "message"),
    [
        ("model.l2", False, "is not KEY=V1,V2"),
        ("model.l2=0.1,,0.2", False, "empty value"),
        ("model.l2=0.1 model.l2=0.2", False, "appears twice"),
        ("optimizer.learning_rate=1e-4:1e-1:log", False, "a range needs random sampling; add random=N"),
        ("optimizer.learning_rate=0:1:log", True, "a log range needs a positive low end"),
        ("optimizer.learning_rate=0.1:0.01", True, "low end must be below its high end"),
        ("", False, "the sweep has no grid"),
    ],
)
def test_bad_grid_syntax_is_named(grid, random, message):
    with pytest.raises(UserError, match=message):
        parse_axes(grid, random)


def test_seeds_are_a_count_or_a_list():
    assert parse_seeds("5") == [0, 1, 2, 3, 4]
    assert parse_seeds("3 7 11") == [3, 7, 11]
    for bad in ("0", "three", "3 3", ""):
        with pytest.raises(UserError, match="seeds="):
            parse_seeds(bad)
        with command_line(), pytest.raises(UserError, match="SEEDS="):  # as the command line words it
            parse_seeds(bad)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ("modle.l2=0.1,0.2", r"modle: unknown key \(did you mean 'model'\?\)"),
        ("model.l2=0.1,-1", "point model.l2=-1: .*model.l2: must be greater than or equal to 0"),
        ("model.l2=0.1:0.2", "a range needs random sampling"),
    ],
)
def test_a_bad_grid_fails_before_any_training_starts(reports, grid, message):
    result = run_harness("sweep", "l2", "--dataset", "digits", "--grid", grid, reports=reports)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert re.search(message, result.stderr), result.stderr
    assert not reports.exists()  # no group folder, no run


# Runs a command from a small Python of its own and reports the command's peak memory: a child forked straight from
# the test process would count the test process's own memory (TensorFlow and all) as its peak.
MEASURED = """
import json, resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"seconds": time.monotonic() - started, "exit": done.returncode, "stderr": done.stderr,
                  "peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def test_a_grid_of_25_million_points_is_refused_at_once_without_building_it(tmp_path):
    """The issue's 5,000 x 5,000 grid ran for 10 minutes and grew to 12 GB; now it is one line, in seconds."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    seeds = ",".join(str(seed) for seed in range(1, 5001))
    rates = ",".join(f"{rate / 10_000:.4f}" for rate in range(1, 5001))
    grid = f"training.seed={seeds} optimizer.learning_rate={rates}"
    command = harness_command("sweep adam", tmp_path, "--grid", grid)
    measured = subprocess.run([sys.executable, "-c", MEASURED, *command], cwd=ROOT, capture_output=True, text=True)
    result = json.loads(measured.stdout)
    assert result["exit"] == 2
    assert result["stderr"].strip().splitlines() == [
        "error: the sweep would make 25,000,000 runs (5,000 x 5,000 points), more than the 10,000 a group may "
        "have: sample it with RANDOM=N (N points of the same ranges) or narrow the grid"
    ]
    # No grid was built: Python with pandas and the harness is about 150 MB (the grid took 12 GB).
    assert result["seconds"] < 60 and result["peak_kb"] < 600_000, result
    assert not any(tmp_path.iterdir()), "nothing was written"
