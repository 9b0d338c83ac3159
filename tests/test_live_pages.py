"""Pages that follow runs while they train, served over HTTP as `make serve` serves them, in headless Chromium."""

import functools
import http.server
import subprocess
import threading
import time
import types

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from harness.groups.live import GroupProgress
from harness.records import GroupDir
from tests.conftest import ROOT, harness_command, run_harness
from tests.test_groups import constructed_group
from tests.test_pages_in_browser import browser  # noqa: F401 - the fixture; it skips this module without Chromium


@pytest.fixture
def served(reports):
    """reports/ over HTTP, as `make serve` serves it (Python's http.server)."""
    reports.mkdir(parents=True, exist_ok=True)
    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *args: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(quiet, directory=str(reports)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _running_page(reports, process, timeout=120):
    """The run's page once it says `running` and an epoch has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pages = [path for path in reports.glob("adam/2*/report.html") if 'data-live="running"' in path.read_text()]
        if pages and (pages[0].parent / "history.csv").is_file():
            return pages[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError("the run's page never said it was running")


def _epochs_shown(driver) -> int:
    return int(driver.find_element(By.ID, "live-epoch").text.split("/")[0])


def test_a_served_run_page_follows_the_run_and_the_index_sees_it_finish(browser, served, reports):  # noqa: F811
    command = harness_command("run adam --dataset digits --epochs 80 --set training.batch_size=16", reports)
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as run:
        page = _running_page(reports, run)
        browser.get(page.as_uri())  # opened from disk, it stays as it was written
        assert browser.find_element(By.ID, "live-epoch").text == "0 / 80"
        assert "make serve" in browser.find_element(By.ID, "live-note").text

        browser.get(f"{served}/{page.relative_to(reports).as_posix()}")
        browser.execute_script("window.notReloaded = true")
        wait = WebDriverWait(browser, 60, poll_frequency=0.2)
        wait.until(lambda _: _epochs_shown(browser) >= 1)
        seen = _epochs_shown(browser)
        wait.until(lambda _: _epochs_shown(browser) > seen)  # a later epoch, without reloading the page
        assert browser.execute_script("return window.notReloaded") is True
        assert browser.find_element(By.ID, "live-epoch").text.endswith("/ 80")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#live-curves svg polyline")) == 4
        assert browser.find_element(By.ID, "live-remaining").text.startswith("≈")

        browser.get(f"{served}/index.html")
        browser.execute_script("window.notReloaded = true")
        status = (By.CSS_SELECTOR, "#runs tbody td span.status")
        assert browser.find_element(*status).text == "running", "the run finished before the index was opened"
        WebDriverWait(browser, 120, poll_frequency=0.5).until(
            lambda _: browser.find_element(*status).text == "finished"
        )
        assert browser.execute_script("return window.notReloaded") is True
        assert run.wait(timeout=60) == 0
    browser.get(f"{served}/{page.relative_to(reports).as_posix()}")
    assert browser.find_elements(By.ID, "live") == []  # the finished run's page is its full report
    assert browser.find_element(By.CSS_SELECTOR, "h1 .status").text == "finished"


def test_a_running_groups_page_lists_its_runs_as_they_stand(browser, reports):  # noqa: F811
    group = constructed_group(reports, "adam", [0.88, 0.89, 0.87])
    record = GroupDir(group).record()
    waiting = {"run": "seed-3", "point": 0, "seed": 3, "parameters": {}}
    GroupDir(group).write_record(record | {"members": [*record["members"], waiting]})
    ledger = types.SimpleNamespace(group_dir=group, total=4, members_here=lambda: [*record["members"], waiting])
    GroupProgress(ledger, reports, "en").update()
    browser.get((group / "group.html").as_uri())
    assert browser.find_element(By.ID, "finished").text == "3/4"
    rows = browser.find_elements(By.CSS_SELECTOR, "#members tbody tr")
    assert [row.find_elements(By.TAG_NAME, "td")[3].text for row in rows] == ["finished"] * 3 + ["waiting"]
    assert rows[0].find_elements(By.TAG_NAME, "td")[6].text == "0.8800"
    browser.get((reports / "index.html").as_uri())
    assert "3/4 running" in browser.find_element(By.CSS_SELECTOR, "#groups tbody tr").text

    remade = run_harness("report", reports=reports)  # make report leaves a running group to its own machine
    assert f"left to the machines running them, as they run: {group}" in remade.stdout
    assert 'data-live="running"' in (group / "group.html").read_text() and not (group / "summary.json").exists()
