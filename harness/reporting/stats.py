"""The statistics behind a fair comparison, each from scipy or statsmodels: intervals over seeds, Welch's t-test
between groups of runs, McNemar's exact test with a paired bootstrap between two runs on one test set, and Holm's
adjustment when one comparison makes several tests.

    make experiment NAME=adam SEEDS=5        summary.json: mean, std and 95% t interval per metric
    make compare NAMES="adam adam_lr"        groups: Welch; single runs: McNemar + paired bootstrap
    make experiment NAME=adam FOLDS=5; ...   two cross-validations on the same folds: the corrected resampled t-test

The wording of the verdicts lives in harness.reporting.verdicts; this module only computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 10_000


@dataclass(frozen=True)
class Interval:
    """Mean, sample standard deviation (ddof=1) and the 95% t interval of the mean; None where n < 2."""

    n: int
    mean: float | None
    std: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "std": self.std, "ci95_low": self.low, "ci95_high": self.high}


def t_interval(values) -> Interval:
    """The 95% confidence interval of the mean with the t distribution (n - 1 degrees of freedom)."""
    values = np.asarray([value for value in values if value is not None and not math.isnan(value)], dtype=float)
    n = len(values)
    if n == 0:
        return Interval(0, None, None, None, None)
    mean = float(values.mean())
    if n == 1:
        return Interval(1, mean, None, None, None)
    std = float(values.std(ddof=1))
    if std == 0:
        return Interval(n, mean, 0.0, mean, mean)
    low, high = stats.t.interval(CONFIDENCE, df=n - 1, loc=mean, scale=std / math.sqrt(n))
    return Interval(n, mean, std, float(low), float(high))


def band(values) -> tuple[float, float]:
    """t_interval as seaborn's errorbar callable wants it: (low, high), the mean itself when n < 2."""
    interval = t_interval(values)
    if interval.low is None:
        return (interval.mean, interval.mean) if interval.mean is not None else (math.nan, math.nan)
    return interval.low, interval.high


@dataclass(frozen=True)
class GroupDifference:
    """Welch's t-test of mean(candidate) - mean(baseline); p and the interval are None when it cannot run."""

    difference: float
    low: float | None
    high: float | None
    p_value: float | None
    n_candidate: int
    n_baseline: int


def welch(candidate, baseline) -> GroupDifference:
    """Welch's unequal-variance t-test with the 95% interval of the difference of means (scipy)."""
    candidate, baseline = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    difference = float(candidate.mean() - baseline.mean()) if len(candidate) and len(baseline) else math.nan
    untestable = GroupDifference(difference, None, None, None, len(candidate), len(baseline))
    if min(len(candidate), len(baseline)) < 2:
        return untestable
    if candidate.std(ddof=1) == 0 and baseline.std(ddof=1) == 0:
        return untestable  # no spread in either group: the t statistic is undefined
    result = stats.ttest_ind(candidate, baseline, equal_var=False)
    interval = result.confidence_interval(CONFIDENCE)
    return GroupDifference(
        difference, float(interval.low), float(interval.high), float(result.pvalue), len(candidate), len(baseline)
    )


def corrected_resampled(candidate, baseline, test_to_train: float) -> GroupDifference:
    """Nadeau and Bengio's corrected resampled t-test (2003) on paired fold results: the mean of the differences fold
    by fold, its variance inflated by test_to_train (a fold's validation size over its training size), because the
    folds' models share most of their training data and their results are not independent. Written here: scipy and
    statsmodels have no such test."""
    candidate, baseline = np.asarray(candidate, dtype=float), np.asarray(baseline, dtype=float)
    differences = candidate - baseline
    count = len(differences)
    difference = float(differences.mean()) if count else math.nan
    variance = float(differences.var(ddof=1)) if count > 1 else 0.0
    if count < 2 or variance == 0:
        return GroupDifference(difference, None, None, None, count, count)
    scale = math.sqrt((1 / count + test_to_train) * variance)
    p_value = 2 * stats.t.sf(abs(difference) / scale, df=count - 1)
    margin = stats.t.ppf((1 + CONFIDENCE) / 2, df=count - 1) * scale
    return GroupDifference(difference, difference - margin, difference + margin, float(p_value), count, count)


@dataclass(frozen=True)
class PairedDifference:
    """Two runs scored on the same test examples: accuracy(candidate) - accuracy(baseline)."""

    difference: float
    low: float
    high: float
    p_value: float
    candidate_only: int  # examples only the candidate gets right
    baseline_only: int  # examples only the baseline gets right
    examples: int


def paired(candidate_right, baseline_right, seed: int = 0) -> PairedDifference:
    """McNemar's exact test (a two-sided binomial test on the discordant examples) and a paired
    percentile bootstrap of the accuracy difference, resampling test examples."""
    candidate_right = np.asarray(candidate_right, dtype=bool)
    baseline_right = np.asarray(baseline_right, dtype=bool)
    if candidate_right.shape != baseline_right.shape:
        raise ValueError("paired tests need the same test examples in the same order")
    candidate_only = int(np.sum(candidate_right & ~baseline_right))
    baseline_only = int(np.sum(baseline_right & ~candidate_right))
    examples = len(candidate_right)
    per_example = candidate_right.astype(float) - baseline_right.astype(float)
    difference = float(per_example.mean())
    discordant = candidate_only + baseline_only
    if discordant == 0:  # right on exactly the same examples: nothing to resample or test
        return PairedDifference(0.0, 0.0, 0.0, 1.0, 0, 0, examples)
    p_value = stats.binomtest(candidate_only, discordant, 0.5).pvalue
    bootstrap = stats.bootstrap(
        (per_example,),
        np.mean,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        batch=500,
        rng=np.random.default_rng(seed),
    )
    interval = bootstrap.confidence_interval
    return PairedDifference(
        difference, float(interval.low), float(interval.high), float(p_value), candidate_only, baseline_only, examples
    )


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of one comparison's p-values (statsmodels' multipletests); a test that could
    not run (None) stays None and does not count among the tests."""
    made = [p_value for p_value in p_values if p_value is not None]
    if len(made) < 2:
        return list(p_values)
    from statsmodels.stats.multitest import multipletests

    adjusted = iter(multipletests(made, method="holm")[1])
    return [None if p_value is None else float(next(adjusted)) for p_value in p_values]
