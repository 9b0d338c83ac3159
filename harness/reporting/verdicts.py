"""One-line verdicts in plain words that say what a comparison proves, and with which test.

    "adam_lr is ahead of adam by 0.21 points of test accuracy (95% CI 0.05 to 0.37, p = 0.02, 5 runs each)"

A difference is "shown" when its test gives p < 0.05 (then the 95% interval excludes zero as well).
"""

from __future__ import annotations

from harness.reporting.stats import GroupDifference, PairedDifference

SIGNIFICANCE = 0.05


def points(value: float) -> str:
    """An accuracy difference in percentage points: 0.0021 -> '0.21'."""
    return f"{abs(value) * 100:.2f}"


def signed_points(value: float) -> str:
    return f"{value * 100:+.2f}"


def interval_text(low: float, high: float) -> str:
    return f"{low * 100:.2f} to {high * 100:.2f}"


def p_text(p_value: float) -> str:
    if p_value < 0.001:
        return "p < 0.001"
    return f"p = {p_value:.3f}" if p_value < 0.01 else f"p = {p_value:.2f}"


def runs_text(first: int, second: int) -> str:
    return f"{first} runs each" if first == second else f"{first} and {second} runs"


def group_verdict(candidate: str, baseline: str, result: GroupDifference, metric: str = "test accuracy") -> str:
    """Welch's t-test between two groups of seeds, in one sentence."""
    runs = runs_text(result.n_candidate, result.n_baseline)
    if min(result.n_candidate, result.n_baseline) == 0:
        return f"no test possible: {candidate} vs {baseline} has a group without a finished run ({runs})"
    gap = f"{candidate} - {baseline} = {signed_points(result.difference)} points of {metric}"
    if result.p_value is None:
        if min(result.n_candidate, result.n_baseline) < 2:
            return f"no test possible: {gap}, but Welch's t-test needs at least 2 finished runs per group ({runs})"
        return f"no test possible: {gap}, and every run within each group scored the same, so there is no spread"
    interval = f"95% CI {interval_text(result.low, result.high)}, {p_text(result.p_value)}"
    if result.p_value >= SIGNIFICANCE:
        return f"no difference shown at {runs}: {gap} ({interval}, Welch's t-test)"
    direction = "ahead of" if result.difference > 0 else "behind"
    return (f"{candidate} is {direction} {baseline} by {points(result.difference)} points of {metric} "
            f"({interval}, {runs}; Welch's t-test)")  # fmt: skip


WHY_MCNEMAR = (
    "Test used: McNemar's exact test with a paired bootstrap interval, because both runs predicted the same "
    "test examples, so only the examples where exactly one of them is right can tell them apart. "
    "With one run each this compares two trained models, not the two experiments: seed-to-seed variation "
    "is not measured (run each with SEEDS=5 for that)."
)


def paired_verdict(candidate: str, baseline: str, result: PairedDifference) -> str:
    """McNemar's exact test and the paired bootstrap between two single runs, in one sentence."""
    examples = f"the same {result.examples:,} test examples"
    if result.candidate_only + result.baseline_only == 0:
        return f"no difference: {candidate} and {baseline} are right on exactly the same examples of {examples}"
    detail = (
        f"paired bootstrap 95% CI {interval_text(result.low, result.high)}; McNemar's exact test "
        f"{p_text(result.p_value)}: {result.candidate_only} examples only {candidate} gets right, "
        f"{result.baseline_only} only {baseline}"
    )
    if result.p_value >= SIGNIFICANCE:
        return f"no difference shown on {examples}: {candidate} - {baseline} = " + (
            f"{signed_points(result.difference)} points of test accuracy ({detail})"
        )
    direction = "ahead of" if result.difference > 0 else "behind"
    return (f"{candidate} is {direction} {baseline} by {points(result.difference)} points of test accuracy "
            f"on {examples} ({detail})")  # fmt: skip
