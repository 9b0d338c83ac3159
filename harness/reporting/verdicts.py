"""One-line verdicts in plain words that say what a comparison proves, and with which test, in English or Japanese.

    "adam_lr is ahead of adam by 0.21 points of test accuracy (95% CI 0.05 to 0.37, p = 0.015, 5 runs each;
     Welch's t-test)"

A difference is "shown" when its test gives p < 0.05. When one comparison makes several tests (three groups: each
later one against the first), their p-values are adjusted for multiplicity by Holm's method
(harness.reporting.stats.holm) and "shown" is decided on the adjusted p, which the verdict then gives beside the raw
one; the 95% intervals are each test's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.reporting.stats import GroupDifference, PairedDifference

SIGNIFICANCE = 0.05

PHRASES = {
    "en": {
        "runs_each": "{n} runs each",
        "runs_apart": "{a} and {b} runs",
        "gap": "{candidate} - {baseline} = {delta} points of {metric}",
        "interval": "95% CI {low} to {high}",
        "adjusted": "Holm-adjusted for {tests} comparisons {p}",
        "after_adjusting": " once adjusted for {tests} comparisons",
        "no_finished_run": "no test possible: {candidate} vs {baseline} has a group without a finished run ({runs})",
        "too_few_runs": "no test possible: {gap}, but {test} needs at least 2 finished runs per group ({runs})",
        "no_spread": "no test possible: {gap}, and every run within each group scored the same, so there is no spread",
        "groups_not_shown": "no difference shown at {runs}{after}: {gap} ({interval}, {test})",
        "groups_ahead": "{candidate} is ahead of {baseline} by {points} points of {metric} ({interval}, {runs}; "
        "{test})",
        "groups_behind": "{candidate} is behind {baseline} by {points} points of {metric} ({interval}, {runs}; {test})",
        "examples": "the same {n:,} test examples",
        "identical": "no difference: {candidate} and {baseline} are right on exactly the same examples of {examples}",
        "paired_detail": "paired bootstrap {interval}; McNemar's exact test {p}: {a} examples only {candidate} gets "
        "right, {b} only {baseline}",
        "runs_not_shown": "no difference shown on {examples}{after}: {candidate} - {baseline} = {delta} points of "
        "test accuracy ({detail})",
        "runs_ahead": "{candidate} is ahead of {baseline} by {points} points of test accuracy on {examples} ({detail})",
        "runs_behind": "{candidate} is behind {baseline} by {points} points of test accuracy on {examples} ({detail})",
        "no_predictions": "{candidate} vs {baseline}: nothing to test, a run has no test predictions "
        "(it did not finish)",
        "other_examples": "{candidate} vs {baseline}: not scored on the same test examples, so no paired test applies",
        "why_mcnemar": "Test used: McNemar's exact test with a paired bootstrap interval, because both runs predicted "
        "the same test examples, so only the examples where exactly one of them is right can tell them "
        "apart. With one run each this compares two trained models, not the two experiments: "
        "seed-to-seed variation is not measured (run each with SEEDS=5 for that).",
        "why_welch": "Welch's t-test on each group's finished runs (it does not assume equal spread), differences from "
        "the first group, in percentage points. A difference is shown when p < 0.05. Runs in a group "
        "differ only in their training seed; they share the validation and test sets.",
        "why_corrected": "Test used: Nadeau and Bengio's corrected resampled t-test on the differences fold by fold, "
        "because these are cross-validations on the same folds: each fold's runs pair up, and since the folds' models "
        "share most of their training data, their results are not independent seeds; the test widens the variance "
        "for that (by a fold's validation size over its training size), where a plain t-test would find differences "
        "that are not there. A difference is shown when p < 0.05.",
        "why_holm": "With {tests} comparisons against the first, the chance that one of them looks shown by luck "
        "grows with their number: each p is adjusted by Holm's method and a difference is shown only "
        "when its adjusted p < 0.05.",
    },
    "ja": {
        "runs_each": "各 {n} 件の実行",
        "runs_apart": "{a} 件と {b} 件の実行",
        "gap": "{candidate} − {baseline} = {metric}で {delta} ポイント",
        "interval": "95% 信頼区間 {low} 〜 {high}",
        "adjusted": "ホルム法で {tests} 件の比較について調整した {p}",
        "after_adjusting": " ({tests} 件の比較について調整後)",
        "no_finished_run": "検定できません: {candidate} と {baseline} の一方のグループに"
        "完了した実行がありません ({runs})",
        "too_few_runs": "検定できません: {gap}。{test}には各グループ 2 件以上の完了した実行が必要です ({runs})",
        "no_spread": "検定できません: {gap}。各グループ内の実行がすべて同じ値で、ばらつきがありません",
        "groups_not_shown": "{runs}では差は示されませんでした{after}: {gap} ({interval}、{test})",
        "groups_ahead": "{candidate} は {baseline} より{metric}が {points} ポイント高い ({interval}、{runs}、{test})",
        "groups_behind": "{candidate} は {baseline} より{metric}が {points} ポイント低い ({interval}、{runs}、{test})",
        "examples": "同じ {n:,} 件のテスト例",
        "identical": "差はありません: {candidate} と {baseline} は{examples}のうちまったく同じ例に正解しています",
        "paired_detail": "対応のあるブートストラップの{interval}、マクネマーの正確検定 {p}: "
        "{candidate} だけが正解した例 {a} 件、{baseline} だけが正解した例 {b} 件",
        "runs_not_shown": "{examples}では差は示されませんでした{after}: {candidate} − {baseline} = テスト正解率で "
        "{delta} ポイント ({detail})",
        "runs_ahead": "{examples}で {candidate} は {baseline} よりテスト正解率が {points} ポイント高い ({detail})",
        "runs_behind": "{examples}で {candidate} は {baseline} よりテスト正解率が {points} ポイント低い ({detail})",
        "no_predictions": "{candidate} と {baseline}: 検定できません。"
        "テストの予測がない実行があります (完了していません)",
        "other_examples": "{candidate} と {baseline}: 同じテスト例で評価されていないため、対応のある検定は使えません",
        "why_mcnemar": "使った検定: マクネマーの正確検定と対応のあるブートストラップ区間。"
        "2 つの実行は同じテスト例を予測したので、一方だけが正解した例だけが両者を区別できるためです。"
        "各 1 件の実行では、2 つの実験ではなく学習済みの 2 つのモデルを比べています。"
        "シードによるばらつきは測っていません (測るには SEEDS=5 で実行してください)。",
        "why_welch": "各グループの完了した実行にウェルチの t 検定 (ばらつきが等しいことを仮定しない) を使い、"
        "最初のグループからの差をパーセントポイントで示します。p < 0.05 のとき差が示されたとします。"
        "グループ内の実行は学習のシードだけが異なり、検証データとテストデータは共通です。",
        "why_corrected": "使った検定: Nadeau と Bengio の補正済みリサンプリング t 検定 (分割ごとの差に対して)。"
        "同じ分割 (fold) での交差検証どうしなので、各分割の実行が対になり、また各分割のモデルは訓練データの大部分を"
        "共有するため結果は独立なシードではありません。この検定はその分だけ分散を広げます (分割の検証サイズ÷訓練"
        "サイズ)。通常の t 検定では無い差が見つかってしまいます。p < 0.05 のとき差が示されたとします。",
        "why_holm": "最初のものとの比較が {tests} 件あり、そのどれかが偶然に差ありと見える確率は"
        "件数とともに増えるため、各 p をホルム法で調整し、調整後の p < 0.05 のときだけ"
        "差が示されたとします。",
    },
}


TESTS = {  # a groups' test, as a verdict names it
    "Welch t-test": {"en": "Welch's t-test", "ja": "ウェルチの t 検定"},
    "corrected resampled t-test": {
        "en": "corrected resampled t-test on paired folds",
        "ja": "分割ごとに対にした補正済みリサンプリング t 検定",
    },
}


def phrase(lang: str, key: str, **values) -> str:
    return PHRASES[lang][key].format(**values)


def explanations(lang: str, test: str, tests: int) -> list[str]:
    """What the test ("why_welch" or "why_mcnemar") is, and the multiplicity adjustment when there are several."""
    if tests == 0:
        return []
    return [phrase(lang, test)] + ([phrase(lang, "why_holm", tests=tests)] if tests > 1 else [])


@dataclass(frozen=True)
class Adjusted:
    """A test's p-value adjusted for the `tests` tests of its comparison (Holm); one test needs no adjustment."""

    p_value: float | None
    tests: int = 1


def points(value: float) -> str:
    """An accuracy difference in percentage points: 0.0021 -> '0.21'."""
    return f"{abs(value) * 100:.2f}"


def signed_points(value: float) -> str:
    return f"{value * 100:+.2f}"


def p_text(p_value: float) -> str:
    """p to two significant digits (0.052, where two decimals would print 0.05 at the threshold); below 0.001,
    p < 0.001."""
    if p_value < 0.001:
        return "p < 0.001"
    return f"p = {p_value:#.2g}"


def _separator(lang: str) -> str:
    return ", " if lang == "en" else "、"


def _p_values(lang: str, p_value: float, adjusted: Adjusted) -> str:
    """The raw p, and the adjusted one where the comparison made several tests."""
    if adjusted.tests == 1:
        return p_text(p_value)
    adjustment = phrase(lang, "adjusted", tests=adjusted.tests, p=p_text(adjusted.p_value))
    return p_text(p_value) + _separator(lang) + adjustment


def _interval(lang: str, low: float, high: float) -> str:
    return phrase(lang, "interval", low=f"{low * 100:.2f}", high=f"{high * 100:.2f}")


def _decisive_p(p_value: float, adjusted: Adjusted) -> float:
    return adjusted.p_value if adjusted.tests > 1 else p_value


def _after(lang: str, p_value: float, adjusted: Adjusted) -> str:
    """Said when the raw p alone would have shown a difference and the adjustment took it away."""
    return phrase(lang, "after_adjusting", tests=adjusted.tests) if p_value < SIGNIFICANCE else ""


def runs_text(first: int, second: int, lang: str = "en") -> str:
    return phrase(lang, "runs_each", n=first) if first == second else phrase(lang, "runs_apart", a=first, b=second)


def group_verdict(
    candidate: str,
    baseline: str,
    result: GroupDifference,
    metric: str = "test accuracy",
    lang: str = "en",
    adjusted: Adjusted = Adjusted(None),
    test: str = "Welch t-test",
) -> str:
    """A test between two groups of runs (Welch's t-test; the corrected resampled t-test for cross-validations on the
    same folds), in one sentence."""
    runs = runs_text(result.n_candidate, result.n_baseline, lang)
    names = {"candidate": candidate, "baseline": baseline, "test": TESTS[test][lang]}
    if min(result.n_candidate, result.n_baseline) == 0:
        return phrase(lang, "no_finished_run", runs=runs, **names)
    gap = phrase(lang, "gap", delta=signed_points(result.difference), metric=metric, **names)
    if result.p_value is None:
        if min(result.n_candidate, result.n_baseline) < 2:
            return phrase(lang, "too_few_runs", gap=gap, runs=runs, test=names["test"])
        return phrase(lang, "no_spread", gap=gap)
    interval = _interval(lang, result.low, result.high) + _separator(lang) + _p_values(lang, result.p_value, adjusted)
    if _decisive_p(result.p_value, adjusted) >= SIGNIFICANCE:
        after = _after(lang, result.p_value, adjusted)
        return phrase(lang, "groups_not_shown", runs=runs, after=after, gap=gap, interval=interval, test=names["test"])
    direction = "groups_ahead" if result.difference > 0 else "groups_behind"
    return phrase(
        lang, direction, points=points(result.difference), metric=metric, interval=interval, runs=runs, **names
    )


def paired_verdict(
    candidate: str, baseline: str, result: PairedDifference, lang: str = "en", adjusted: Adjusted = Adjusted(None)
) -> str:
    """McNemar's exact test and the paired bootstrap between two single runs, in one sentence."""
    names = {"candidate": candidate, "baseline": baseline}
    examples = phrase(lang, "examples", n=result.examples)
    if result.candidate_only + result.baseline_only == 0:
        return phrase(lang, "identical", examples=examples, **names)
    detail = phrase(
        lang,
        "paired_detail",
        interval=_interval(lang, result.low, result.high),
        p=_p_values(lang, result.p_value, adjusted),
        a=result.candidate_only,
        b=result.baseline_only,
        **names,
    )
    if _decisive_p(result.p_value, adjusted) >= SIGNIFICANCE:
        after = _after(lang, result.p_value, adjusted)
        return phrase(
            lang,
            "runs_not_shown",
            examples=examples,
            after=after,
            delta=signed_points(result.difference),
            detail=detail,
            **names,
        )
    direction = "runs_ahead" if result.difference > 0 else "runs_behind"
    return phrase(lang, direction, points=points(result.difference), examples=examples, detail=detail, **names)
