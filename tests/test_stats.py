"""The corrected resampled t-test and the Student t distribution behind it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hptrack.query.stats import (
    betainc,
    corrected_ttest,
    corrected_ttests,
    kfold_test_train_ratio,
    t_sf,
    t_two_sided_p,
    two_sided_p_values,
)

# ---------------------------------------------------------------------------- the t distribution


@pytest.mark.parametrize("t", [0.0, 0.1, 0.5, 1.0, 2.0, 6.3, 40.0])
def test_one_degree_of_freedom_is_the_cauchy_distribution(t):
    assert t_two_sided_p(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("t", [0.0, 0.3, 1.0, 2.92, 10.0, 300.0])
def test_two_degrees_of_freedom_closed_form(t):
    # P(|T| >= t) = 1 - t / sqrt(2 + t^2) for df = 2
    assert t_two_sided_p(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("t", "df"),
    [(12.706204736, 1), (4.302652730, 2), (2.776445105, 4), (2.262157163, 9), (2.085963447, 20)],
)
def test_textbook_critical_values_give_p_005(t, df):
    assert t_two_sided_p(t, df) == pytest.approx(0.05, rel=1e-7)


def test_p_value_is_symmetric_and_bounded():
    assert t_two_sided_p(-2.5, 4) == t_two_sided_p(2.5, 4)
    assert t_two_sided_p(0.0, 4) == 1.0
    assert t_two_sided_p(math.inf, 4) == 0.0
    assert math.isnan(t_two_sided_p(math.nan, 4))
    assert t_sf(-1.0, 3) == pytest.approx(1 - t_sf(1.0, 3))


def test_betainc_closed_forms():
    assert betainc(1.0, 1.0, 0.3) == pytest.approx(0.3)  # uniform
    assert betainc(2.0, 1.0, 0.3) == pytest.approx(0.09)  # x^a for b = 1
    assert betainc(1.0, 3.0, 0.2) == pytest.approx(1 - 0.8**3)  # 1 - (1-x)^b for a = 1
    assert betainc(2.5, 4.0, 0.0) == 0.0 and betainc(2.5, 4.0, 1.0) == 1.0
    with pytest.raises(ValueError, match="0 <= x <= 1"):
        betainc(1.0, 1.0, 1.5)


def test_t_distribution_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 4, 7, 9, 19, 49, 200):
        for t in (0.0, 0.01, 0.3, 1.0, 1.7, 2.5, 4.0, 9.0, 35.0):
            assert t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-9, abs=1e-300)
            assert t_sf(-t, df) == pytest.approx(stats.t.sf(-t, df), rel=1e-9)


# ---------------------------------------------------------------------------- the test


def test_corrected_ttest_by_hand():
    # d = (0.05, 0, 0.05, 0.05, 0.02): mean 0.034, var(ddof=1) = 0.00212 / 4 = 0.00053;
    # 5-fold: n_test/n_train = 1/4, so t = 0.034 / sqrt((1/5 + 1/4) * 0.00053) = 2.201600...
    a = [0.90, 0.80, 0.85, 0.95, 0.90]
    b = [0.85, 0.80, 0.80, 0.90, 0.88]
    result = corrected_ttest(a, b, test_train_ratio=kfold_test_train_ratio(5))
    assert result.k == 5 and result.df == 4
    assert result.mean_difference == pytest.approx(0.034)
    assert result.t == pytest.approx(0.034 / math.sqrt(0.45 * 0.00053), rel=1e-12)
    assert result.t == pytest.approx(2.2016, abs=1e-4)
    assert 0.05 < result.p_value < 0.1  # below the df=4 critical value 2.776
    assert corrected_ttest(b, a, test_train_ratio=0.25).t == pytest.approx(-result.t)


def test_corrected_ttest_three_folds_closed_form():
    # d = (0.05, 0, 0.05): mean 1/30, var = 1/1200; 3-fold: ratio 1/2;
    # t = (1/30) / sqrt((1/3 + 1/2) / 1200) = 1.2649..., and df = 2 has p = 1 - t / sqrt(2 + t^2)
    result = corrected_ttest([0.9, 0.8, 0.85], [0.85, 0.8, 0.8], test_train_ratio=0.5)
    t = (1 / 30) / math.sqrt((1 / 3 + 1 / 2) / 1200)
    assert result.t == pytest.approx(t, rel=1e-12)
    assert result.p_value == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-12)
    assert result.p_value == pytest.approx(1 / 3, rel=1e-9)


def test_correction_widens_the_p_value():
    a, b = [0.91, 0.88, 0.93, 0.90, 0.92], [0.89, 0.87, 0.90, 0.90, 0.90]
    plain = corrected_ttest(a, b, test_train_ratio=0.0)
    corrected = corrected_ttest(a, b, test_train_ratio=0.25)
    assert corrected.p_value > plain.p_value
    assert corrected.t == pytest.approx(plain.t * math.sqrt((1 / 5) / (1 / 5 + 1 / 4)))


def test_without_correction_it_is_scipys_paired_ttest():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for k in (2, 3, 5, 10):
        a, b = rng.random(k), rng.random(k)
        ours = corrected_ttest(a, b, test_train_ratio=0.0)
        theirs = stats.ttest_rel(a, b)
        assert ours.t == pytest.approx(float(theirs.statistic), rel=1e-10)
        assert ours.p_value == pytest.approx(float(theirs.pvalue), rel=1e-9)


def test_corrected_p_value_matches_scipy_t_distribution():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    a, b = rng.random(10), rng.random(10)
    ours = corrected_ttest(a, b, test_train_ratio=1 / 9)
    d = a - b
    t = d.mean() / math.sqrt((1 / 10 + 1 / 9) * d.var(ddof=1))
    assert ours.t == pytest.approx(t, rel=1e-12)
    assert ours.p_value == pytest.approx(2 * stats.t.sf(abs(t), 9), rel=1e-9)


def test_identical_scores_give_p_one_not_nan():
    scores = [0.9, 0.95, 0.85]
    result = corrected_ttest(scores, list(scores), test_train_ratio=0.5)
    assert result.p_value == 1.0 and result.t == 0.0


def test_constant_nonzero_difference_gives_p_zero():
    result = corrected_ttest([0.9, 0.8, 0.7], [0.8, 0.7, 0.6], test_train_ratio=0.5)
    # floating point makes these differences almost, not exactly, equal: a huge t either way
    assert result.p_value < 1e-6
    exact = corrected_ttest([1.0, 2.0, 3.0], [0.5, 1.5, 2.5], test_train_ratio=0.5)
    assert exact.t == math.inf and exact.p_value == 0.0
    assert exact.to_dict()["t"] is None


@pytest.mark.parametrize(
    ("x", "y", "ratio", "message"),
    [
        ([0.9], [0.8], 0.25, "at least 2 folds, got 1"),
        ([], [], 0.25, "at least 2 folds, got 0"),
        ([0.9, 0.8], [0.8], 0.25, "same number of folds, got 2 and 1"),
        ([0.9, math.nan], [0.8, 0.7], 0.25, "NaN"),
        ([0.9, 0.8], [0.8, 0.7], -1.0, "test_train_ratio = -1.0"),
    ],
)
def test_bad_inputs(x, y, ratio, message):
    with pytest.raises(ValueError, match=message):
        corrected_ttest(x, y, test_train_ratio=ratio)


def test_kfold_ratio():
    assert kfold_test_train_ratio(5) == 0.25
    assert kfold_test_train_ratio(2) == 1.0
    with pytest.raises(ValueError, match="at least 2 folds"):
        kfold_test_train_ratio(1)


def test_many_pairs_at_once_give_each_pair_its_own_result_to_the_last_bit():
    rng = np.random.default_rng(2)
    pairs = []
    for k in (2, 3, 5, 10) * 50:
        x = rng.random(k)
        pairs.append((list(x), list(x - rng.normal(0.01, 10.0 ** rng.uniform(-6, -1), k))))
    pairs += [([0.9, 0.95, 0.85], [0.9, 0.95, 0.85]), ([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])]  # p = 1, p = 0
    for ratio in (0.0, 0.25, 1 / 9):
        together = corrected_ttests(pairs, test_train_ratio=ratio)
        alone = [corrected_ttest(x, y, test_train_ratio=ratio) for x, y in pairs]
        assert together == alone  # exact: a p-value does not depend on the other pairs
        reversed_order = corrected_ttests(pairs[::-1], test_train_ratio=ratio)
        assert reversed_order == alone[::-1]
    assert corrected_ttests([], test_train_ratio=0.25) == []
    with pytest.raises(ValueError, match="NaN"):
        corrected_ttests([*pairs[:3], ([0.9, math.nan], [0.8, 0.7])], test_train_ratio=0.25)


def test_p_values_at_once_equal_one_by_one():
    ts = [0.0, -2.5, 2.5, 1e-200, 1e300, math.inf, -math.inf, 0.3, 40.0]
    dfs = [4, 4, 4, 9, 2, 4, 1, 1, 200]
    together = two_sided_p_values(ts, dfs)
    assert together == [t_two_sided_p(t, df) for t, df in zip(ts, dfs)]
    assert together[:3] == [1.0, together[2], together[2]] and together[4:7] == [0.0, 0.0, 0.0]
    assert math.isnan(two_sided_p_values([math.nan], [4])[0])
    with pytest.raises(ValueError, match="degrees of freedom"):
        two_sided_p_values([1.0, 2.0], [4, 0])
