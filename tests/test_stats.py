"""What a comparison proves: intervals and tests checked against scipy and textbook formulas on fixed
numbers, and the verdicts' words for constructed results (no training)."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from harness.reporting.stats import band, holm, paired, t_interval, welch
from harness.reporting.verdicts import Adjusted, group_verdict, p_text, paired_verdict

ADAM = [0.8812, 0.8840, 0.8825, 0.8831, 0.8819]
ADAM_LR = [0.8835, 0.8861, 0.8842, 0.8858, 0.8840]


def test_the_interval_is_the_t_interval_of_the_mean():
    interval = t_interval(ADAM)
    mean, sem = np.mean(ADAM), scipy_stats.sem(ADAM)
    low, high = scipy_stats.t.interval(0.95, df=4, loc=mean, scale=sem)
    assert (interval.mean, interval.low, interval.high) == pytest.approx((mean, low, high), rel=1e-12)
    assert interval.std == pytest.approx(np.std(ADAM, ddof=1))
    # By hand: t(0.975, 4) = 2.776445 (tables), std 0.0010784, n 5.
    assert interval.high - interval.mean == pytest.approx(2.776445 * 0.0010784248 / math.sqrt(5), rel=1e-5)


def test_one_run_has_a_mean_but_no_interval_and_equal_runs_have_a_zero_width_one():
    assert t_interval([0.9]).to_dict() == {"n": 1, "mean": 0.9, "std": None, "ci95_low": None, "ci95_high": None}
    assert t_interval([]).n == 0
    same = t_interval([0.9, 0.9, 0.9])
    assert (same.low, same.high, same.std) == (0.9, 0.9, 0.0)
    assert band([0.9]) == (0.9, 0.9)  # seaborn draws no band for a single run


def test_welch_matches_scipy_and_the_welch_satterthwaite_formula():
    result = welch(ADAM_LR, ADAM)
    reference = scipy_stats.ttest_ind(ADAM_LR, ADAM, equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-12)
    variance_a, variance_b = np.var(ADAM_LR, ddof=1) / 5, np.var(ADAM, ddof=1) / 5
    degrees = (variance_a + variance_b) ** 2 / (variance_a**2 / 4 + variance_b**2 / 4)
    half_width = scipy_stats.t.ppf(0.975, degrees) * math.sqrt(variance_a + variance_b)
    difference = np.mean(ADAM_LR) - np.mean(ADAM)
    assert result.difference == pytest.approx(difference)
    assert (result.low, result.high) == pytest.approx((difference - half_width, difference + half_width), rel=1e-9)
    assert (result.n_candidate, result.n_baseline) == (5, 5)


def test_welch_refuses_to_test_without_two_runs_or_without_spread():
    assert welch([0.9], ADAM).p_value is None
    assert welch([0.9, 0.9], [0.8, 0.8]).p_value is None
    assert welch([0.9, 0.9], [0.8, 0.8]).difference == pytest.approx(0.1)


def test_mcnemar_is_the_exact_binomial_test_on_the_examples_where_one_run_is_right():
    baseline = np.array([True] * 80 + [False] * 20)
    candidate = baseline.copy()
    candidate[80:92] = True  # 12 examples only the candidate gets right
    candidate[:3] = False  # 3 only the baseline gets right
    result = paired(candidate, baseline)
    assert (result.candidate_only, result.baseline_only, result.examples) == (12, 3, 100)
    assert result.p_value == pytest.approx(scipy_stats.binomtest(12, 15, 0.5).pvalue)
    assert result.p_value == pytest.approx(2 * sum(math.comb(15, k) for k in range(0, 4)) / 2**15)
    assert result.difference == pytest.approx(0.09)
    assert -1 <= result.low < 0.09 < result.high <= 1
    assert paired(candidate, baseline) == result  # a fixed resampling seed: the same interval every time


def test_paired_tests_need_the_same_examples():
    with pytest.raises(ValueError, match="same test examples"):
        paired([True, False], [True])


def test_the_verdict_for_a_clear_difference_names_size_interval_p_and_runs():
    verdict = group_verdict("adam_lr", "adam", welch(ADAM_LR, ADAM))
    assert verdict == (
        "adam_lr is ahead of adam by 0.22 points of test accuracy (95% CI 0.05 to 0.38, p = 0.015, 5 runs each; "
        "Welch's t-test)"
    )
    assert group_verdict("adam", "adam_lr", welch(ADAM, ADAM_LR)).startswith("adam is behind adam_lr by 0.22 points")


def test_the_verdict_for_no_difference_says_so_at_the_number_of_runs():
    noisy = [0.8830, 0.8790, 0.8870, 0.8801, 0.8852]
    verdict = group_verdict("adam_lr", "adam", welch(noisy, ADAM))
    assert verdict.startswith("no difference shown at 5 runs each: adam_lr - adam = +0.03 points of test accuracy")
    assert group_verdict("b", "a", welch([0.9, 0.91, 0.92], ADAM)).count("3 and 5 runs") == 1
    assert "at least 2 finished runs per group" in group_verdict("b", "a", welch([0.9], ADAM))
    assert "a group without a finished run (0 and 5 runs)" in group_verdict("b", "a", welch([], ADAM))


def test_the_verdict_between_two_single_runs_names_mcnemar_and_the_shared_test_set():
    baseline = np.array([True] * 9000 + [False] * 1000)
    candidate = baseline.copy()
    candidate[9000:9150] = True
    candidate[:40] = False
    verdict = paired_verdict("adam_lr", "adam", paired(candidate, baseline))
    assert verdict.startswith(
        "adam_lr is ahead of adam by 1.10 points of test accuracy on the same 10,000 test examples"
    )
    assert "McNemar's exact test p < 0.001: 150 examples only adam_lr gets right, 40 only adam" in verdict
    close = baseline.copy()
    close[9000:9005], close[:4] = True, False
    assert paired_verdict("b", "a", paired(close, baseline)).startswith("no difference shown on the same 10,000")
    assert "right on exactly the same examples" in paired_verdict("b", "a", paired(baseline, baseline))


def test_holm_adjusts_a_family_of_p_values_and_leaves_untested_ones_out():
    # Holm by hand: sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04, made non-decreasing: 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.04, None, 0.01]) == pytest.approx([0.04, None, 0.02])  # two tests, not three
    assert holm([0.3, 0.9]) == pytest.approx([0.6, 0.9]) and holm([0.02]) == [0.02] and holm([None]) == [None]
    assert holm([0.5, 0.7, 0.8]) == pytest.approx([1.0, 1.0, 1.0])  # capped at 1


def test_a_verdict_decided_by_the_adjusted_p_says_how_many_comparisons_were_made():
    result = welch(ADAM_LR, ADAM)
    alone = group_verdict("adam_lr", "adam", result)
    assert "adjusted" not in alone and alone.startswith("adam_lr is ahead of adam")
    lost = group_verdict("adam_lr", "adam", result, adjusted=Adjusted(0.06, 3))
    assert lost.startswith("no difference shown at 5 runs each once adjusted for 3 comparisons: adam_lr - adam")
    assert f"{p_text(result.p_value)}, Holm-adjusted for 3 comparisons p = 0.06" in lost
    kept = group_verdict("adam_lr", "adam", result, adjusted=Adjusted(0.04, 2))
    assert kept.startswith("adam_lr is ahead of adam") and "Holm-adjusted for 2 comparisons p = 0.04" in kept
