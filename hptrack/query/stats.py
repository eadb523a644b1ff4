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
Recipes), so query commands need no scipy for it.

One implementation serves one pair or ten thousand: :func:`corrected_ttests` computes
each pair's statistic with exact sums and every p-value in one vectorised pass (numpy,
element by element the same IEEE steps as a scalar evaluation, so a p-value does not
depend on the other pairs); :func:`corrected_ttest` is the one-pair case.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
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
    return corrected_ttests([(x, y)], test_train_ratio=test_train_ratio)[0]


def corrected_ttests(
    pairs: Iterable[tuple[Sequence[float], Sequence[float]]], *, test_train_ratio: float
) -> list[TTestResult]:
    """:func:`corrected_ttest` of each pair ``(x, y)``, with the p-values computed together.

    The statistics are computed pair by pair (exact sums), the p-values in one vectorised
    pass (numpy); a result is the same, to the last bit, whatever the other pairs are.

    Parameters
    ----------
    pairs : iterable of (sequence of float, sequence of float)
        Fold scores of two configurations on the same folds, as :func:`corrected_ttest`
        takes them.
    test_train_ratio : float
        ``n_test / n_train`` of a fold (as :func:`corrected_ttest`).

    Returns
    -------
    list of TTestResult
        One per pair, in order.

    Raises
    ------
    ValueError
        As :func:`corrected_ttest`, for the first pair at fault.
    """
    if not (test_train_ratio >= 0 and math.isfinite(test_train_ratio)):
        raise ValueError(f"test_train_ratio = {test_train_ratio!r} must be a finite number >= 0")
    ratio = float(test_train_ratio)
    statistics = [_t_statistic(x, y, ratio) for x, y in pairs]
    tested = [i for i, (_, _, _, _, p) in enumerate(statistics) if p is None]
    p_values = two_sided_p_values([statistics[i][0] for i in tested], [statistics[i][1] for i in tested])
    p_of = dict(zip(tested, p_values))
    return [
        TTestResult(
            t=t, p_value=p_of[i] if p is None else p, df=df, k=k, mean_difference=mean, test_train_ratio=ratio
        )
        for i, (t, df, k, mean, p) in enumerate(statistics)
    ]


def _t_statistic(
    x: Sequence[float], y: Sequence[float], ratio: float
) -> tuple[float, int, int, float, float | None]:
    """``(t, df, k, mean difference, p)`` of one pair; p is None unless the variance is 0."""
    k = len(x)
    if len(y) != k:
        raise ValueError(f"paired scores need the same number of folds, got {k} and {len(y)}")
    if k < 2:
        raise ValueError(f"a paired t-test needs at least 2 folds, got {k}")
    diffs = [float(a) - float(b) for a, b in zip(x, y)]
    total = sum(diffs)  # NaN when a difference is NaN (or infinities cancel out)
    if total != total and any(math.isnan(d) for d in diffs):
        raise ValueError("paired scores contain NaN (a failed fold?); drop that configuration")
    mean = math.fsum(diffs) / k
    variance = math.fsum([(d - mean) ** 2 for d in diffs]) / (k - 1)
    if variance == 0.0:  # identical fold by fold (p = 1), or a constant shift (p = 0)
        if mean == 0.0:
            return 0.0, k - 1, k, mean, 1.0
        return math.copysign(math.inf, mean), k - 1, k, mean, 0.0
    return mean / math.sqrt((1.0 / k + ratio) * variance), k - 1, k, mean, None


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of Student's t distribution: ``P(|T| >= |t|)``.

    Equals ``2 * scipy.stats.t.sf(abs(t), df)``.
    """
    return two_sided_p_values([t], [df])[0]


def two_sided_p_values(t: Sequence[float], df: Sequence[float]) -> list[float]:
    """:func:`t_two_sided_p` of each ``t`` with its degrees of freedom, vectorised (numpy).

    Parameters
    ----------
    t : sequence of float
        t statistics (NaN gives NaN, an infinity 0).
    df : sequence of float
        Degrees of freedom, one per statistic, each > 0.

    Returns
    -------
    list of float

    Raises
    ------
    ValueError
        A ``df`` is not positive.
    """
    import numpy as np

    for value in df:
        if not value > 0:
            raise ValueError(f"degrees of freedom must be > 0, got {value!r}")
    ts, dfs = np.array(t, dtype=float), np.array(df, dtype=float)
    p = np.where(np.isinf(ts), 0.0, np.nan)  # NaN stays NaN
    finite = np.isfinite(ts)
    ts, dfs = ts[finite], dfs[finite]
    with np.errstate(all="ignore"):  # as Python floats: t^2 may overflow to inf (then x = 0, p = 0)
        t2 = ts * ts
        # P(|T| >= t) = I_x(df/2, 1/2) with x = df / (df + t^2); 1 - x given separately for accuracy
        x, xc = dfs / (dfs + t2), t2 / (dfs + t2)
    p[finite] = np.minimum(1.0, _betainc(dfs / 2.0, np.full(len(ts), 0.5), x, xc))
    return p.tolist()  # type: ignore[no-any-return]


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
    import numpy as np

    xc = 1.0 - x if complement is None else complement
    if not (0.0 <= x <= 1.0) or a <= 0 or b <= 0:
        raise ValueError(f"betainc needs a, b > 0 and 0 <= x <= 1, got a={a!r}, b={b!r}, x={x!r}")
    return float(_betainc(*(np.array([v], dtype=float) for v in (a, b, x, xc)))[0])


def _betainc(a: Any, b: Any, x: Any, xc: Any) -> Any:
    """:func:`betainc` of arrays (checked by the caller): every element as the scalar steps give it.

    The logarithms, exponentials and log-gamma values come from :mod:`math`, element by
    element, and the continued fraction uses only IEEE arithmetic, so each element is
    exactly what one scalar evaluation gives.
    """
    import numpy as np

    out = np.where(x == 0.0, 0.0, 1.0)  # I_0 = 0; I_x = 1 when 1 - x is 0
    rest = (x != 0.0) & (xc != 0.0)
    a, b, x, xc = a[rest], b[rest], x[rest], xc[rest]
    pairs = list(zip(a.tolist(), b.tolist()))
    log_beta = {(p, q): math.lgamma(p + q) - math.lgamma(p) - math.lgamma(q) for p, q in set(pairs)}
    front = np.array(
        [
            math.exp(log_beta[p, q] + p * math.log(u) + q * math.log(v))
            for (p, q), u, v in zip(pairs, x.tolist(), xc.tolist())
        ]
    )
    lower = x < (a + 1.0) / (a + b + 2.0)  # else the fraction of I_(1-x)(b, a) converges faster
    first, second = np.where(lower, a, b), np.where(lower, b, a)
    part = front * _beta_fraction(first, second, np.where(lower, x, xc)) / first
    out[rest] = np.where(lower, part, 1.0 - part)
    return out


def _beta_fraction(a: Any, b: Any, x: Any) -> Any:
    """The continued fraction for ``I_x(a, b)`` by the modified Lentz method, element-wise.

    Each element stops at the step where it converges (as a scalar evaluation would); the
    others go on.
    """
    import numpy as np

    def floor(v: Any) -> Any:
        return np.where(np.abs(v) < _TINY, _TINY, v)

    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones(len(x))
    d = 1.0 / floor(1.0 - qab * x / qap)
    h = d
    out = np.empty(len(x))
    left = np.arange(len(x))  # the elements still iterating
    if not len(left):
        return out
    with np.errstate(over="ignore", under="ignore"):
        for m in range(1, _MAX_ITERATIONS + 1):
            m2 = 2 * m
            aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1.0 / floor(1.0 + aa * d)
            c = floor(1.0 + aa / c)
            h = h * (d * c)
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1.0 / floor(1.0 + aa * d)
            c = floor(1.0 + aa / c)
            delta = d * c
            h = h * delta
            done = np.abs(delta - 1.0) < _EPS
            if done.any():
                out[left[done]] = h[done]
                going = ~done
                left, a, b, x, c, d, h = (
                    left[going],
                    a[going],
                    b[going],
                    x[going],
                    c[going],
                    d[going],
                    h[going],
                )
                qab, qap, qam = qab[going], qap[going], qam[going]
                if not len(left):
                    return out
    out[left] = h  # pragma: no cover - converges in a few dozen steps for the t distribution
    return out


def kfold_test_train_ratio(n_folds: int) -> float:
    """``n_test / n_train`` of k-fold cross-validation: ``1 / (k - 1)``."""
    if n_folds < 2:
        raise ValueError(f"k-fold cross-validation has at least 2 folds, got {n_folds}")
    return 1.0 / (n_folds - 1)
