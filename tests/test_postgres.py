"""A sweep across machines: its Optuna study in a real PostgreSQL (a throw-away cluster the tests start on a Unix
socket), other machines joining with `sweep-worker`, each point run once, the runs of a machine that dies or
loses the database taken over, a lost database one line, and the password never written anywhere."""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import optuna
import pytest

from harness.groups import storage as storage_module
from tests.conftest import ROOT, harness_command

PASSWORD = "s3cret-pw"  # trust authentication ignores it; it must still never be written
# A machine's runs in its command's own process (JOBS=0) where worker processes are not what a test is about: each
# process that loads TensorFlow costs about 8 s of CPU. Two machines sharing a grid run as make runs them, in workers.
IN_ITS_PROCESS = ("--jobs", "0")


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))), None)
    return Path(found).resolve().parent if found else None  # /usr/lib/postgresql/<version>/bin: all the tools


BIN = _postgres_bin()
if BIN is None:
    if os.environ.get("REQUIRE_POSTGRES"):
        raise RuntimeError("REQUIRE_POSTGRES is set but PostgreSQL is missing: apt-get install postgresql")
    pytest.skip("apt-get install postgresql", allow_module_level=True)


def _as_postgres(*command: str) -> list[str]:
    """initdb refuses to run as root: run the server's tools as the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


class Cluster:
    def __init__(self, folder: Path):
        self.folder, self.data = folder, folder / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
        subprocess.run(
            _as_postgres(str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"),
            check=True,
            capture_output=True,
        )
        self.start()
        subprocess.run(
            _as_postgres(str(BIN / "createdb"), "-h", str(folder), "-p", str(self.port), "-U", "postgres", "harness"),
            check=True,
            capture_output=True,
        )
        self.url = f"postgresql://postgres:{PASSWORD}@/harness?host={folder}&port={self.port}"

    def start(self) -> None:
        options = f"-k {self.folder} -p {self.port} -c listen_addresses=''"  # a Unix socket only
        log = str(self.folder / "server.log")
        subprocess.run(
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "start", "-l", log),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"), capture_output=True
        )


@pytest.fixture(scope="module")
def postgres():
    """A cluster of its own in a short /tmp folder (pytest's are private to root, and a socket path is short)."""
    folder = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    os.chmod(folder, 0o755)
    cluster = Cluster(folder)
    yield cluster
    cluster.stop()
    shutil.rmtree(folder, ignore_errors=True)


def harness(*args: str, reports: Path, storage: str, heartbeat: int = 10) -> subprocess.Popen:
    """`python -m harness ARGS` in the background, as a machine of the sweep would run it (STORAGE from make)."""
    command = harness_command(list(args), reports)
    environment = os.environ | {
        "STORAGE": storage,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "HARNESS_HEARTBEAT_SECONDS": str(heartbeat),
    }
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        start_new_session=True,
    )


def long_sweep(grid: str, *extra: str, reports: Path, storage: str, heartbeat: int) -> subprocess.Popen:
    """A sweep of adam on digits whose runs last long enough (30 epochs) to be caught mid-run."""
    words = ("sweep", "adam", "--dataset", "digits", "--epochs", "30", "--grid", grid, *extra)
    return harness(*words, reports=reports, storage=storage, heartbeat=heartbeat)


def group_id(reports: Path, deadline: float = 120) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        groups = list(reports.glob("*/sweep-*/group.json"))
        if groups:
            return groups[0].parent.name
        time.sleep(0.1)
    raise AssertionError("the sweep never started")


def study_trials(url: str, group: str):
    import optuna

    from harness.groups.storage import open_storage

    storage = open_storage(url)
    (name,) = [
        study.study_name for study in optuna.get_all_study_summaries(storage) if study.study_name.endswith(group)
    ]
    return optuna.load_study(study_name=name, storage=storage).trials


def test_two_machines_share_a_grid_each_point_once_and_no_password_is_written(postgres, tmp_path):
    first, second = tmp_path / "machine-1", tmp_path / "machine-2"
    grid = "optimizer.learning_rate=0.02,0.01,0.005,0.002,0.001,0.0005"
    starter = harness(
        "sweep", "adam", "--dataset", "digits", "--epochs", "3", "--grid", grid, reports=first, storage=postgres.url
    )
    group = group_id(first)
    joiner = harness("sweep-worker", "--sweep", group, reports=second, storage=postgres.url)
    for process in (starter, joiner):
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    trials = study_trials(postgres.url, group)
    assert sorted(trial.state.name for trial in trials) == ["COMPLETE"] * 6
    runs = [trial.user_attrs["run"] for trial in trials]
    assert sorted(runs) == [f"p{point:02d}" for point in range(6)]  # every point once, no duplicates
    here = {path.parent.name for path in first.glob(f"adam/{group}/p*/metrics.json")}
    there = {path.parent.name for path in second.glob(f"adam/{group}/p*/metrics.json")}
    assert here and there and not here & there and here | there == set(runs)  # both machines took points
    assert {trial.user_attrs["run_path"].split("/machine-")[1][0] for trial in trials} == {"1", "2"}
    written = [path for folder in (first, second) for path in folder.rglob("*") if path.is_file()]
    assert not [path for path in written if PASSWORD.encode() in path.read_bytes()]
    record = json.loads((first / "adam" / group / "group.json").read_text())
    assert record["study"]["storage"].startswith("postgresql://postgres:***@")
    remade = harness("report", reports=first, storage=postgres.url)  # once both are done: the page, again
    assert remade.wait(timeout=120) == 0
    summary = json.loads((first / "adam" / group / "summary.json").read_text())
    assert summary["finished"] == summary["runs"] == 6  # the other machine's runs too, from the study


def test_a_machine_killed_mid_run_has_its_trial_taken_up_by_another(postgres, tmp_path):
    first, second = tmp_path / "machine-1", tmp_path / "machine-2"
    starter = long_sweep(
        "optimizer.learning_rate=0.01,0.001", *IN_ITS_PROCESS, reports=first, storage=postgres.url, heartbeat=1
    )
    group = group_id(first)
    deadline = time.monotonic() + 120
    while not list(first.glob(f"adam/{group}/p00/history.csv")) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(starter.pid, signal.SIGKILL)  # the machine is gone mid-run
    starter.communicate()
    time.sleep(4)  # three heartbeats missed
    joiner = harness(
        "sweep-worker", "--sweep", group, *IN_ITS_PROCESS, reports=second, storage=postgres.url, heartbeat=1
    )
    _, stderr = joiner.communicate(timeout=600)
    assert joiner.returncode == 0, stderr
    trials = study_trials(postgres.url, group)
    finished = sorted(trial.user_attrs["run"] for trial in trials if trial.state.name == "COMPLETE")
    assert finished == ["p00-retry1", "p01"]  # the killed point ran again, on the machine that is left
    assert [trial.state.name for trial in trials].count("FAIL") == 1


def test_a_lost_database_stops_a_machine_with_one_line_and_its_runs_are_recorded_once_when_it_is_back(
    postgres, tmp_path, monkeypatch
):
    first, second = tmp_path / "machine-1", tmp_path / "machine-2"
    grid = "optimizer.learning_rate=0.01,0.002"
    starter = long_sweep(grid, "--jobs", "2", reports=first, storage=postgres.url, heartbeat=1)
    group = group_id(first)
    deadline = time.monotonic() + 180
    while len(list(first.glob(f"adam/{group}/p0*/history.csv"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    postgres.stop()  # both runs are training: their trials stay `running` in the database, their machine gone
    try:
        _, stderr = starter.communicate(timeout=300)
    finally:
        postgres.start()
    assert starter.returncode == 2, stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert "the sweep's database at postgresql://postgres:***@" in line and "cannot be reached" in line
    assert PASSWORD not in stderr
    kept = [json.loads(path.read_text())["status"] for path in first.glob(f"adam/{group}/p0*/metrics.json")]
    assert kept == ["finished", "finished"]  # the runs it was training end here and stay in its folder
    # Another machine (its heartbeat one second) looks at the study, finds the silent machine's trials stale and
    # queues them again, as its workers do; then the first machine joins again.
    monkeypatch.setattr(storage_module, "HEARTBEAT_SECONDS", 1)
    storage = storage_module.open_storage(postgres.url)
    (name,) = [study.study_name for study in optuna.get_all_study_summaries(storage) if group in study.study_name]
    time.sleep(3)
    optuna.storages.fail_stale_trials(optuna.load_study(study_name=name, storage=storage))
    again = harness("sweep-worker", "--sweep", group, *IN_ITS_PROCESS, reports=first, storage=postgres.url, heartbeat=1)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert stdout.count("ended here while the database was away; recorded now, not run again") == 2
    assert not list(first.glob(f"adam/{group}/*retry*"))  # nothing trained again
    joiner = harness("sweep-worker", "--sweep", group, *IN_ITS_PROCESS, reports=second, storage=postgres.url)
    _, stderr = joiner.communicate(timeout=300)
    assert joiner.returncode == 0, stderr
    trials = study_trials(postgres.url, group)
    recorded = sorted(trial.user_attrs["run"] for trial in trials if trial.state.name == "COMPLETE")
    assert recorded == ["p00", "p01"] and [trial.state.name for trial in trials].count("RUNNING") == 0
    for machine in (first, second):  # each point's run counted once, on either machine's page
        summary = json.loads((machine / "adam" / group / "summary.json").read_text())
        assert (summary["finished"], summary["missing_points"], summary["repeats"]) == (2, [], [])


def test_a_machine_that_went_silent_is_waited_for_and_its_runs_taken_over(postgres, tmp_path):
    """Its trials are still running in the study: a worker with nothing left to take waits for them, and takes them
    over once their machine has been silent for three beats."""
    first, second = tmp_path / "machine-1", tmp_path / "machine-2"
    starter = long_sweep(
        "optimizer.learning_rate=0.01", *IN_ITS_PROCESS, reports=first, storage=postgres.url, heartbeat=3
    )
    group = group_id(first)
    deadline = time.monotonic() + 120
    while not list(first.glob(f"adam/{group}/p00/history.csv")) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(starter.pid, signal.SIGSTOP)  # silent, not dead: no beat, no exit
    try:
        joiner = harness(
            "sweep-worker", "--sweep", group, *IN_ITS_PROCESS, reports=second, storage=postgres.url, heartbeat=3
        )
        stdout, stderr = joiner.communicate(timeout=300)
    finally:
        os.killpg(starter.pid, signal.SIGKILL)
        starter.communicate()
    assert joiner.returncode == 0, stderr
    assert "waiting for p00, still running on other machines" in stdout
    trials = study_trials(postgres.url, group)
    assert sorted(trial.user_attrs["run"] for trial in trials if trial.state.name == "COMPLETE") == ["p00-retry1"]


def test_a_wrong_password_or_database_is_one_line_that_says_what_the_server_answered(postgres, tmp_path):
    """A user with a password the server checks (scram, for that user alone): a wrong one is refused as a login,
    not reported as a database that cannot be reached, and nothing is made."""
    psql = [str(BIN / "psql"), "-h", str(postgres.folder), "-p", str(postgres.port), "-U", "postgres", "harness"]
    subprocess.run([*psql, "-c", "CREATE ROLE checked LOGIN PASSWORD 'right-pw'"], check=True, capture_output=True)
    hba = postgres.data / "pg_hba.conf"
    subprocess.run(_as_postgres("sh", "-c", f"sed -i '1i local all checked scram-sha-256' {hba}"), check=True)
    subprocess.run(_as_postgres(str(BIN / "pg_ctl"), "-D", str(postgres.data), "reload"), check=True)
    socket_folder = f"host={postgres.folder}&port={postgres.port}"
    cases = {
        f"postgresql://checked:wrong-pw@/harness?{socket_folder}": "refused the login",
        f"postgresql://postgres:{PASSWORD}@/nothing_here?{socket_folder}": "has no such database or user",
    }
    for url, said in cases.items():
        reports = tmp_path / said.split()[0]
        process = harness(
            "sweep", "adam", "--dataset", "digits", "--grid", "model.l2=0.1", reports=reports, storage=url
        )
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, stdout + stderr
        (line,) = stderr.strip().splitlines()
        assert said in line and "cannot be reached" not in line and "sweep-worker" not in line, line
        assert "wrong-pw" not in line and PASSWORD not in line and not reports.exists()
