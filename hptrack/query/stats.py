"""Statistics on paired fold scores: the corrected resampled t-test.

Cross-validation folds share most of their training data, so their scores are not
independent and the ordinary paired t-test is far too eager to call a difference
significant. Nadeau and Bengio (2003, "Inference for the Generalization Error",
Machine Learning 52) correct the variance of the mean difference for that overlap:

    t = mean(d) / sqrt((1/k + n_test/n_train) * var(d, ddof=1)),   df = k - 1

for the differences ``d`` of ``k`` paired fold scores (the same splits for both
configurations). With ``n_test/n_train = 0`` it is the ordinary paired t-test
(``scipy.stats.ttest_rel``). The Student t distribution is computed here with the
regularized incomplete beta function (a continued fraction, as in Numerical
Recipes), so query commands need neither scipy nor numpy for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TEST_NAME = "corrected resampled t-test (Nadeau & Bengio 2003)"
ALPHA = 0.05

_EPS = 1e-16
_TINY = 1e-300
_MAX_ITERATIONS = 10_000


@dataclass(frozen=True)
class TTestResult:
    """The outcome of :func:`corrected_ttest`.

    Attributes
    ----------
    t : float
        The t statistic (``+-inf`` when every difference is the same non-zero value).
    p_value : float
        Two-sided p-value (1.0 when the scores are identical fold by fold).
    df : int
        Degrees of freedom, ``k - 1``.
    k : int
        Number of paired folds.
    mean_difference : float
        Mean of ``x - y`` over the folds.
    test_train_ratio : float
        The ``n_test / n_train`` used in the correction (0: the ordinary paired test).
    """

    t: float
    p_value: float
    df: int
    k: int
    mean_difference: float
    test_train_ratio: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (an infinite t becomes None)."""
        return {
            "test": TEST_NAME,
            "t": self.t if math.isfinite(self.t) else None,
            "p_value": self.p_value,
            "df": self.df,
            "k": self.k,
            "mean_difference": self.mean_difference,
            "test_train_ratio": self.test_train_ratio,
        }


def corrected_ttest(x: Sequence[float], y: Sequence[float], *, test_train_ratio: float) -> TTestResult:
    """Nadeau and Bengio's corrected resampled t-test of paired fold scores.

    Parameters
    ----------
    x, y : sequence of float
        Scores of two configurations on the same ``k`` folds, in fold order.
    test_train_ratio : float
        ``n_test / n_train`` of a fold: ``1 / (k - 1)`` for k-fold cross-validation;
        0 gives the ordinary paired t-test.

    Returns
    -------
    TTestResult
        ``t`` is positive when ``x`` scores higher; ``p_value`` is two-sided.

    Raises
    ------
    ValueError
        Fewer than two folds, sequences of different lengths, a NaN score, or a
        negative ``test_train_ratio``.

    Examples
    --------
    >>> result = corrected_ttest([0.9, 0.8, 0.85], [0.85, 0.8, 0.8], test_train_ratio=0.5)
    >>> round(result.p_value, 4)
    0.3333
    """
    k = len(x)
    if len(y) != k:
        raise ValueError(f"paired scores need the same number of folds, got {k} and {len(y)}")
    if k < 2:
        raise ValueError(f"a paired t-test needs at least 2 folds, got {k}")
    if not (test_train_ratio >= 0 and math.isfinite(test_train_ratio)):
        raise ValueError(f"test_train_ratio = {test_train_ratio!r} must be a finite number >= 0")
    diffs = [float(a) - float(b) for a, b in zip(x, y)]
    if any(math.isnan(d) for d in diffs):
        raise ValueError("paired scores contain NaN (a failed fold?); drop that configuration")
    mean = math.fsum(diffs) / k
    variance = math.fsum((d - mean) ** 2 for d in diffs) / (k - 1)
    df = k - 1
    if variance == 0.0:  # identical fold by fold (p = 1), or a constant shift (p = 0)
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0.0 else 0.0
    else:
        t = mean / math.sqrt((1.0 / k + test_train_ratio) * variance)
        p = t_two_sided_p(t, df)
    return TTestResult(
        t=t, p_value=p, df=df, k=k, mean_difference=mean, test_train_ratio=float(test_train_ratio)
    )


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of Student's t distribution: ``P(|T| >= |t|)``.

    Equals ``2 * scipy.stats.t.sf(abs(t), df)``.
    """
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df!r}")
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    t2 = t * t
    # P(|T| >= t) = I_x(df/2, 1/2) with x = df / (df + t^2); 1 - x given separately for accuracy
    return min(1.0, betainc(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2)))


def t_sf(t: float, df: float) -> float:
    """Student's t survival function ``P(T > t)`` (as ``scipy.stats.t.sf``)."""
    half = t_two_sided_p(t, df) / 2.0
    return half if t >= 0 else 1.0 - half


def betainc(a: float, b: float, x: float, complement: float | None = None) -> float:
    """The regularized incomplete beta function ``I_x(a, b)``.

    ``complement`` is ``1 - x`` when the caller knows it more precisely than by
    subtraction. Evaluated with the continued fraction of Numerical Recipes (6.4),
    on whichever side of the mean it converges fast.
    """
    xc = 1.0 - x if complement is None else complement
    if not (0.0 <= x <= 1.0) or a <= 0 or b <= 0:
        raise ValueError(f"betainc needs a, b > 0 and 0 <= x <= 1, got a={a!r}, b={b!r}, x={x!r}")
    if x == 0.0:
        return 0.0
    if xc == 0.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(xc)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x, xc) / a
    return 1.0 - front * _beta_fraction(b, a, xc, x) / b


def _beta_fraction(a: float, b: float, x: float, xc: float) -> float:
    """The continued fraction for ``I_x(a, b)`` by the modified Lentz method."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITERATIONS + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    return h  # pragma: no cover - converges in a few dozen steps for the t distribution


def kfold_test_train_ratio(n_folds: int) -> float:
    """``n_test / n_train`` of k-fold cross-validation: ``1 / (k - 1)``."""
    if n_folds < 2:
        raise ValueError(f"k-fold cross-validation has at least 2 folds, got {n_folds}")
    return 1.0 / (n_folds - 1)
