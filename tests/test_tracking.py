"""Runs can be found and watched the way trackers do it: notes and tags, system metrics per epoch, TensorBoard's
HParams, Optuna's dashboard."""

import harness
from harness.records import RunDir
from tests.conftest import EXPERIMENTS, run_harness


def test_notes_and_tags_are_kept_shown_in_the_index_and_read_back(tmp_path):
    made = run_harness(
        "run",
        "adam",
        "--dataset",
        "digits",
        "--epochs",
        "1",
        "--note",
        "try a lower rate",
        "--tags",
        "baseline",
        reports=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    run = harness.load("adam", reports_dir=tmp_path)
    assert (run.note, run.tags) == ("try a lower rate", ["baseline"])
    tagged = run_harness("tag", "adam", "--tags", "keep, best", reports=tmp_path)
    assert tagged.returncode == 0 and "baseline, keep, best" in tagged.stdout, tagged.stderr
    run.note = "kept for the report"
    page = RunDir(run.path).file(RunDir.PAGE).read_text()
    assert "kept for the report" in page and ">keep<" in page
    table = harness.runs(tmp_path)
    assert table.loc[0, "tags"] == "baseline keep best" and table.loc[0, "note"] == "kept for the report"
    assert "baseline keep best" in (tmp_path / "index-data.js").read_text()  # the index's filter finds them
    empty = run_harness("tag", "adam", reports=tmp_path)
    assert empty.returncode == 2 and "give TAGS=" in empty.stderr
    group = harness.run(
        "adam",
        seeds=2,
        jobs=0,
        epochs=1,
        dataset="digits",
        tags="sweep-a",
        reports_dir=tmp_path,
        experiments_dir=EXPERIMENTS,
    )
    assert all(member.tags == ["sweep-a"] for member in group.runs)


def test_every_run_writes_its_settings_and_scores_for_tensorboards_hparams(tmp_path):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    run = harness.run("adam", epochs=2, dataset="digits", seed=3, reports_dir=tmp_path, experiments_dir=EXPERIMENTS)
    (events,) = (tmp_path / "tensorboard" / "adam" / run.path.name / "hparams").glob("events.out.tfevents.*")
    hparams, scores = {}, {}
    for event in EventFileLoader(str(events)).Load():
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "hparams":
                data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                hparams |= {key: item for key, item in data.session_start_info.hparams.items()}
            elif value.tag.startswith("hparams/"):
                scores[value.tag] = float(tensor_util.make_ndarray(value.tensor))
    assert hparams["optimizer.learning_rate"].number_value == 0.001 and hparams["training.seed"].number_value == 3
    assert hparams["model.builder"].string_value == "simple" and hparams["dataset.name"].string_value == "digits"
    assert abs(scores["hparams/test_accuracy"] - run.metrics["test_accuracy"]) < 1e-6


def test_each_epoch_records_what_it_cost_the_machine(tmp_path):
    run = harness.run("adam", epochs=3, dataset="digits", reports_dir=tmp_path, experiments_dir=EXPERIMENTS)
    system = RunDir(run.path).system()
    assert system["epoch"].tolist() == [0, 1, 2]
    assert (system["cpu_percent"] > 0).all() and (system["rss_mb"] > 100).all()
    assert RunDir(run.path).has(RunDir.SYSTEM_PLOT) and "system.png" in RunDir(run.path).file(RunDir.PAGE).read_text()
    environment = RunDir(run.path).environment()
    assert environment["cpu_model"] and environment["memory_gb"] > 0 and environment["cpu_count"] >= 1


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_optunas_dashboard_serves_a_sweeps_study(tmp_path):
    import json
    import subprocess
    import time
    import urllib.request

    from tests.conftest import ROOT, harness_command

    sweep = harness.sweep(
        "adam",
        "optimizer.learning_rate=0.01,0.001",
        epochs=1,
        dataset="digits",
        jobs=0,
        reports_dir=tmp_path,
        experiments_dir=EXPERIMENTS,
    )
    port = _free_port()
    server = subprocess.Popen(
        harness_command(f"dashboard --port {port}", tmp_path),
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert f"Optuna's dashboard on the study of {sweep.path}" in server.stdout.readline()
        deadline, studies = time.monotonic() + 60, None
        while studies is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                    studies = json.load(response)["study_summaries"]
            except OSError:
                time.sleep(0.3)
        assert [study["study_name"] for study in studies] == [f"adam/{sweep.path.name}"]
    finally:
        server.kill()
        server.wait()
