"""The pages in a real browser (headless Chromium): rows, images that load, sorting, from file:// alone."""

import os
import shutil

import pytest

from harness.config.experiments import resolve
from harness.reporting.compare import compare
from harness.reporting.index import write_index
from harness.reporting.report import REPORTER
from harness.training.runner import run_experiment
from tests.conftest import EXPERIMENTS

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("REQUIRE_BROWSER"):
        raise RuntimeError(
            "REQUIRE_BROWSER is set but chromium/chromedriver are missing: apt-get install chromium chromium-driver"
        )
    pytest.skip("apt-get install chromium chromium-driver", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Three real runs on digits (one diverged) and one run directory left incomplete."""
    reports = tmp_path_factory.mktemp("pages") / "reports"
    for name, overrides in (("adam", []), ("sgd", []), ("sgd", ["optimizer.learning_rate=1e5"])):
        run_experiment(resolve(name, EXPERIMENTS, overrides, dataset="digits", epochs=2), reports, reporter=REPORTER)
    broken = reports / "adam" / "20200101-000000-dead"
    broken.mkdir()
    (broken / "config.yaml").write_text("name: adam\n")  # a crash before anything else was written
    write_index(reports)
    return reports


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1300,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def _open(browser, path):
    browser.get(path.as_uri())
    browser.execute_script("return document.fonts.ready")


def _broken_images(browser) -> list[str]:
    images = browser.find_elements(By.TAG_NAME, "img")
    assert images, "the page shows no images"
    loaded = "return arguments[0].complete && arguments[0].naturalWidth > 0"
    return [image.get_attribute("src") for image in images if not browser.execute_script(loaded, image)]


def _column(browser, table_id: str, header: str) -> list[str]:
    headers = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th")]
    index = headers.index(header)
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [row.find_elements(By.TAG_NAME, "td")[index].text for row in rows]


def test_the_index_lists_every_run_with_its_status(browser, reports, tmp_path):
    _open(browser, reports / "index.html")
    statuses = _column(browser, "runs", "status")
    assert sorted(statuses) == ["diverged", "finished", "finished", "incomplete"]
    assert sorted(_column(browser, "runs", "experiment")) == ["adam", "adam", "sgd", "sgd"]
    assert _column(browser, "runs", "run")[-1] == "20200101-000000-dead"  # newest first, the 2020 one last
    browser.save_screenshot(str(tmp_path / "index.png"))
    assert (tmp_path / "index.png").stat().st_size > 10_000


@pytest.mark.parametrize("width", [1400, 900])
def test_the_runs_table_never_widens_the_page_and_its_last_column_can_be_scrolled_to(browser, reports, width):
    browser.set_window_size(width, 1000)
    try:
        _open(browser, reports / "index.html")
        page = "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        page_width, window_width = browser.execute_script(page)
        assert page_width <= window_width  # nothing sticks out of the window
        last = browser.find_element(By.CSS_SELECTOR, "#runs thead th:last-child")
        scroll_its_box = "var box = arguments[0].closest('.table-scroll'); box.scrollLeft = box.scrollWidth;"
        browser.execute_script(scroll_its_box, last)
        assert browser.execute_script("return arguments[0].getBoundingClientRect().right", last) <= window_width
    finally:
        browser.set_window_size(1300, 1000)


def test_at_1280_pixels_the_accuracies_show_without_scrolling(browser, reports):
    browser.set_window_size(1280, 900)
    try:
        _open(browser, reports / "index.html")
        width = browser.execute_script("return document.documentElement.clientWidth")
        headers = browser.find_elements(By.CSS_SELECTOR, "#runs thead th")
        accuracies = [header for header in headers if "accuracy" in header.text]
        assert len(accuracies) >= 2
        right = "return arguments[0].getBoundingClientRect().right"
        assert all(browser.execute_script(right, header) <= width for header in accuracies)
    finally:
        browser.set_window_size(1300, 1000)


def test_clicking_test_accuracy_sorts_the_rows(browser, reports):
    _open(browser, reports / "index.html")
    header = next(th for th in browser.find_elements(By.CSS_SELECTOR, "#runs th") if th.text == "test accuracy")
    header.click()
    accuracies = [value for value in _column(browser, "runs", "test accuracy") if value != "-"]
    assert len(accuracies) == 2 and accuracies == sorted(accuracies, reverse=True)
    assert _column(browser, "runs", "test accuracy")[-2:] == ["-", "-"]  # runs without a score go last
    header.click()
    ascending = [value for value in _column(browser, "runs", "test accuracy") if value != "-"]
    assert ascending == sorted(accuracies)


def test_each_run_links_to_a_page_whose_images_load(browser, reports):
    _open(browser, reports / "index.html")
    links = [link.get_attribute("href") for link in browser.find_elements(By.CSS_SELECTOR, "#runs td a")]
    assert len(links) == 4
    finished = next(link for link in links if "/adam/" in link and "dead" not in link)
    browser.get(finished)
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("adam")
    assert _broken_images(browser) == []
    alts = {image.get_attribute("alt") for image in browser.find_elements(By.TAG_NAME, "img")}
    assert alts == {
        "learning curves",
        "what training cost the machine, per epoch",
        "confusion matrix (test set)",
        "misclassified test images",
    }
    class_rows = browser.find_elements(By.CSS_SELECTOR, "table.dataframe tbody tr")
    assert [row.find_element(By.TAG_NAME, "th").text for row in class_rows][:10] == list("0123456789")


def test_a_diverged_run_page_says_so(browser, reports):
    (diverged,) = [
        path
        for path in (reports / "sgd").iterdir()
        if not path.is_symlink() and "diverged" in (path / "status.json").read_text()
    ]
    _open(browser, diverged / "report.html")
    assert "diverged" in browser.find_element(By.CLASS_NAME, "banner").text
    assert _broken_images(browser) == []


def test_the_compare_page_shows_both_runs_and_what_differs(browser, reports, tmp_path):
    out = compare(["adam", str(sorted((reports / "sgd").glob("2*"))[0])], reports).out
    _open(browser, out / "compare.html")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#metrics tbody tr")) == 2
    assert _broken_images(browser) == []
    differences = browser.find_element(By.CSS_SELECTOR, "table.dataframe").text
    assert "optimizer.name" in differences and "optimizer.learning_rate" in differences
    assert "training.epochs" not in differences
    browser.save_screenshot(str(tmp_path / "compare.png"))


def test_a_group_page_shows_its_summary_and_banded_curves_and_the_index_links_it(browser, tmp_path):
    from harness.reporting.group_report import write_group_report
    from tests.test_groups import constructed_group

    reports = tmp_path / "reports"
    group = constructed_group(reports, "adam", [0.8812, 0.8840, 0.8825, 0.0], ["finished"] * 3 + ["diverged"])
    write_group_report(group)
    write_index(reports)
    _open(browser, reports / "index.html")
    browser.find_element(By.CSS_SELECTOR, "#groups td a").click()
    assert browser.find_element(By.ID, "finished").text == "3/4"
    assert "seed-3 (diverged" in browser.find_element(By.CLASS_NAME, "banner").text
    assert _column(browser, "summary", "mean") == ["0.8826", "0.8806", "0.8726"]
    assert _broken_images(browser) == []
    assert len(browser.find_elements(By.CSS_SELECTOR, "#members tbody tr")) == 4


def test_the_comparison_of_two_groups_leads_with_its_verdict(browser, tmp_path):
    from tests.test_groups import constructed_group

    constructed_group(tmp_path, "adam", [0.8812, 0.8840, 0.8825, 0.8831, 0.8819])
    constructed_group(tmp_path, "adam_lr", [0.8835, 0.8861, 0.8842, 0.8858, 0.8840])
    _open(browser, compare(["adam", "adam_lr"], tmp_path).out / "compare.html")
    assert browser.find_element(By.CSS_SELECTOR, "#verdicts li").text.startswith("adam_lr is ahead of adam by 0.22")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#statistics tbody tr")) == 3
    assert _broken_images(browser) == []


def test_thousands_of_runs_show_a_page_at_a_time_and_filter_and_sort_over_all_of_them(browser, tmp_path):
    import random

    from benchmarks.index import make_runs
    from tests.test_compare import make_run

    template = make_run(tmp_path / "template", "adam", "20260101-000000-aaaa", metrics={"test_accuracy": 0.9})
    reports = tmp_path / "reports"
    make_runs(template, reports, 2500, random.Random(0))
    write_index(reports)
    _open(browser, reports / "index.html")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 100
    assert browser.find_element(By.ID, "shown").text == "1–100 / 2500"
    browser.find_element(By.ID, "next").click()
    assert browser.find_element(By.ID, "shown").text == "101–200 / 2500"
    browser.find_element(By.ID, "filter").send_keys("rmsprop 2026")
    assert browser.find_element(By.ID, "shown").text == "1–100 / 250 (2500)"  # every 10th run
    assert set(_column(browser, "runs", "experiment")) == {"rmsprop"}
    header = next(th for th in browser.find_elements(By.CSS_SELECTOR, "#runs th") if th.text == "test accuracy")
    header.click()
    best = max(float(value) for value in _column(browser, "runs", "test accuracy"))
    assert _column(browser, "runs", "test accuracy")[0] == f"{best:.4f}"
    links = [link.get_attribute("href") for link in browser.find_elements(By.CSS_SELECTOR, "#runs td a")]
    assert len(links) == 100 and all("/rmsprop/2026" in link and link.endswith("/report.html") for link in links)
