"""With LANG=ja every word the harness writes on a page is Japanese, data aside: run, group, sweep, comparison and
index pages, status badges and verdicts included."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from harness.records import run_directories
from harness.reporting.compare import compare
from harness.reporting.group_report import write_group_report
from harness.reporting.index import write_index
from tests.conftest import run_harness
from tests.test_groups import constructed_group

JA = {"LANG": "ja_JP.UTF-8"}
STATUS_WORDS = ("finished", "diverged", "failed", "interrupted", "running", "incomplete", "unreadable", "pruned")


class _VisibleText(HTMLParser):
    """The words a reader sees: text and titles, not styles, scripts, or the raw config and environment (<pre>)."""

    def __init__(self):
        super().__init__()
        self.hidden, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("style", "script", "pre", "code")
        self.parts += [value for name, value in attrs if name in ("title", "alt", "placeholder") and value]

    def handle_endtag(self, tag):
        self.hidden -= tag in ("style", "script", "pre", "code")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(page: Path) -> str:
    parser = _VisibleText()
    parser.feed(page.read_text())
    return " ".join(parser.parts)


def data_words(reports: Path) -> set[str]:
    """Words that are data, not the harness's: the configs' keys and values (descriptions, names), file names."""
    words = {"JavaScript", "NaN", "fANOVA"}  # names, and the symbol Japanese text uses too
    for run_dir in run_directories(reports):
        words |= set(re.findall(r"[A-Za-z][A-Za-z']+", (run_dir / "config.yaml").read_text()))
        words |= {name for path in run_dir.iterdir() for name in re.findall(r"[A-Za-z]+", path.name)}
    return words


def english_words(page: Path, allowed: set[str]) -> set[str]:
    text = re.sub(r"\b(seeds-|sweep-)?\d{8}-\d{6}-\w+", " ", visible_text(page))  # run and group ids
    text = re.sub(r"[\w.-]+\.(csv|png|json|txt|yaml|keras|log)\b", " ", text)  # file names
    return set(re.findall(r"[A-Za-z][A-Za-z']+", text)) - allowed


@pytest.fixture(scope="module")
def japanese_reports(tmp_path_factory):
    """Real runs on digits (one diverged), a real sweep, groups of seeds (one run diverged), their comparisons and
    the index, all made with LANG=ja."""
    reports = tmp_path_factory.mktemp("ja") / "reports"
    for args in (
        ("run", "adam"),
        ("run", "sgd", "--set", "optimizer.learning_rate=1e5"),
        ("sweep", "momentum", "--grid", "optimizer.learning_rate=0.01,0.1", "--jobs", "0"),
    ):
        result = run_harness(*args, "--dataset", "digits", "--epochs", "1", reports=reports, env=JA)
        assert result.returncode in (0, 3), result.stderr  # 3: diverged
    return reports


def test_every_page_is_japanese_but_its_data(japanese_reports, monkeypatch, tmp_path):
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    groups = tmp_path / "groups"
    constructed_group(groups, "adam", [0.8812, 0.8840, 0.8825, 0.8831, 0.8819])
    constructed_group(groups, "adam_lr", [0.8830, 0.8858, 0.8838, 0.8854, 0.8837, 0.1], ["finished"] * 5 + ["diverged"])
    constructed_group(groups, "momentum", [0.8815, 0.8842, 0.8822, 0.8836, 0.8817])
    for group in groups.glob("*/seeds-*"):
        write_group_report(group)
    verdicts = compare(["adam", "adam_lr", "momentum"], groups).verdicts
    not_shown = "各 5 件の実行では差は示されませんでした (2 件の比較について調整後)"
    assert verdicts[0].startswith(f"{not_shown}: adam_lr − adam = テスト正解率で +0.18 ポイント")
    assert "ホルム法で 2 件の比較について調整した p = 0.075" in verdicts[0]
    runs = sorted(path for path in run_directories(japanese_reports) if path.parent.name in ("adam", "sgd"))
    compare([str(path) for path in runs], japanese_reports)
    write_index(groups)
    write_index(japanese_reports)
    pages = sorted(japanese_reports.rglob("*.html")) + sorted(groups.rglob("*.html"))
    kinds = {page.name for page in pages}
    assert kinds == {"report.html", "group.html", "compare.html", "index.html"}
    allowed = data_words(japanese_reports) | data_words(groups)
    for page in pages:
        text = visible_text(page)
        assert not [word for word in STATUS_WORDS if re.search(rf"\b{word}\b", text)], page
        assert english_words(page, allowed) == set(), page
    diverged = next(page for page in pages if "発散" in visible_text(page) and page.name == "report.html")
    assert "sgd" in diverged.parts


def test_the_index_draws_status_words_in_japanese(japanese_reports, monkeypatch):
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    page = write_index(japanese_reports).read_text()
    words = json.loads(re.search(r'<script type="application/json" id="status-words">(.*?)</script>', page).group(1))
    assert {words[status] for status in STATUS_WORDS} == {
        "完了",
        "発散",
        "失敗",
        "中断",
        "実行中",
        "未完了",
        "読み取り不能",
        "打ち切り",
    }
    assert yaml.safe_load((japanese_reports / "sgd" / "latest" / "status.json").read_text())["status"] == "diverged"
