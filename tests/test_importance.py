"""Parameter importance (SPEC section 10): ``Study.importance``, ``hptrack importance``,
``compare``'s agreement, and the report's analysis figures.

The estimator below is right on exactly ``share(a, b)`` of any test set and ignores
``c``, so the functional ANOVA of its accuracy is known in closed form.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin

import hptrack
from hptrack import Store
from hptrack.cli import cli
from hptrack.report import build_context, render

GRID = {"a": [0, 1, 2], "b": [0, 1, 2], "c": [0, 1]}
X = np.arange(500, dtype=float).reshape(-1, 1)
Y = np.arange(500) % 2  # the label is the parity of the first column


def share(a: float, b: float) -> float:
    return 0.2 + 0.2 * a + 0.1 * b + 0.05 * a * b


class ShareClassifier(ClassifierMixin, BaseEstimator):
    """Right on exactly ``share(a, b)`` of any test set (up to one sample); ``c`` changes nothing."""

    def __init__(self, a: float = 0, b: float = 0, c: float = 0, noise: float = 0.0) -> None:
        self.a, self.b, self.c, self.noise = a, b, c, noise

    def fit(self, X: Any, y: Any) -> ShareClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> Any:
        truth = (X[:, 0] % 2).astype(int)
        p = share(self.a, self.b)
        if self.noise:  # fold-to-fold variation, different per configuration
            p += self.noise * np.sin(X[0, 0] * (1 + self.a + 3 * self.b + 7 * self.c))
        n_right = int(round(min(max(p, 0.0), 1.0) * len(X)))
        out = 1 - truth
        out[:n_right] = truth[:n_right]
        return out


def analytic_shares() -> dict[tuple[str, ...], float]:
    """The functional ANOVA of ``share`` over GRID, computed directly."""
    cells = np.array([[[share(a, b) for _ in GRID["c"]] for b in GRID["b"]] for a in GRID["a"]])
    mu = cells.mean()
    total = ((cells - mu) ** 2).mean()
    main = {name: cells.mean(axis=tuple(k for k in range(3) if k != i)) - mu for i, name in enumerate("abc")}
    out: dict[tuple[str, ...], float] = {(n,): float((v**2).mean() / total) for n, v in main.items()}
    ab = cells.mean(axis=2) - mu - main["a"][:, None] - main["b"][None, :]
    out[("a", "b")] = float((ab**2).mean() / total)
    out[("a", "c")] = out[("b", "c")] = 0.0
    return out


@pytest.fixture(autouse=True)
def _quiet_hptrack_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="hptrack")  # restored after each test


def _grid(db: Path, **params: Any) -> str:
    search = hptrack.GridSearchCV(ShareClassifier(**params), GRID, cv=5, store=db)
    return search.fit(X, Y).recorded_study().name


def _random(db: Path, n_iter: int = 60) -> str:
    space = {"a": stats.uniform(0, 2), "b": stats.uniform(0, 2), "c": stats.uniform(0, 1)}
    search = hptrack.RandomizedSearchCV(
        ShareClassifier(), space, n_iter=n_iter, cv=5, random_state=0, store=db
    )
    return search.fit(X, Y).recorded_study().name


def test_a_complete_grid_gives_the_exact_anova_shares(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        result = store.study(_grid(db)).importance()
    assert result.method == "exact" and result.n_trials == 18 and result.n_folds == 5
    expected = analytic_shares()
    for item in (*result.params, *result.pairs):
        assert item.share == pytest.approx(expected[item.params], abs=0.01), item
        assert item.low <= item.share <= item.high
    assert result.ranking() == ["a", "b", "c"]
    assert result.share("c") == 0.0  # no effect at all: exactly 0, not rounding noise
    total = sum(s.share for s in (*result.params, *result.pairs))
    assert total == pytest.approx(1.0, abs=1e-9)  # three factors, no three-way term here


def test_a_random_search_is_estimated_with_a_seeded_surrogate(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    name = _random(db)
    with Store(db) as store:
        result = store.study(name).importance()
        again = store.study(name).importance()
    assert result == again  # seeded: the same numbers every time
    assert result.method == "surrogate" and result.n_trials == 60
    a, b, c = (result.share(n) for n in "abc")
    assert a > b > c and c < 0.1, result
    assert all(0.0 <= s.low <= s.share <= s.high <= 1.0 for s in (*result.params, *result.pairs))
    assert sum(s.share for s in (*result.params, *result.pairs)) <= 1.0 + 1e-9


def test_intervals_come_from_the_folds(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        steady = store.study(_grid(db)).importance()
        noisy = store.study(_grid(db, noise=0.15)).importance()
    width = {n: s.high - s.low for n, s in zip(noisy.ranking(), noisy.params)}
    assert max(width.values()) > 0.01  # folds disagree: the shares move with them
    assert max(s.high - s.low for s in steady.params) < 1e-9  # every fold gives the same
    assert noisy.resamples == 200 and noisy.to_dict()["confidence"] == 0.95


def test_a_parameter_with_one_value_has_no_importance(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    search = hptrack.GridSearchCV(ShareClassifier(), {"a": [0, 1, 2], "b": [1]}, cv=5, store=db).fit(X, Y)
    with Store(db) as store:
        result = store.study(search.recorded_study().name).importance()
    assert result.method == "exact" and result.share("b") == 0.0 and result.share("a") == pytest.approx(1.0)
    assert result.pairs == ()  # no pair where one side does not vary


def test_importance_from_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    name = _grid(db)
    shown = CliRunner().invoke(cli, ["importance", name, "--store", str(db), "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["method"] == "exact" and data["metric"] == "score"
    assert [p["params"] for p in data["params"]] == [["a"], ["b"], ["c"]]
    assert set(data["params"][0]) == {"params", "share", "low", "high"}
    text = CliRunner().invoke(cli, ["importance", name, "--store", str(db)])
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"importance of {name} (score): exact functional ANOVA")
    assert any(line.split()[:2] == ["a", "0.721"] for line in lines), text.stdout
    assert "a x b" in text.stdout and "higher-order interactions: 0.000" in text.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["importance", "nope"], "Error: no study named 'nope'"),
        (["importance", "STUDY", "--metric", "acuracy"], "Error: "),
    ],
)
def test_bad_importance_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "s.db"
    name = _grid(db)
    before = db.read_bytes()
    result = CliRunner().invoke(cli, [a.replace("STUDY", name) for a in args] + ["--store", str(db)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert db.read_bytes() == before


def test_too_few_complete_trials_is_said_plainly(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    search = hptrack.GridSearchCV(ShareClassifier(), {"a": [1]}, cv=5, store=db).fit(X, Y)
    result = CliRunner().invoke(cli, ["importance", search.recorded_study().name, "--store", str(db)])
    assert result.exit_code == 2
    said = "has 1 complete trial(s) with every fold of score scored; importance needs at least 2"
    assert said in result.stderr


def test_compare_says_whether_two_studies_agree_on_what_matters(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    grid, random = _grid(db), _random(db)
    swapped = (
        hptrack.GridSearchCV(ShareClassifier(), {"a": [1], "b": [0, 1, 2], "c": [0, 1]}, cv=5, store=db)
        .fit(X, Y)
        .recorded_study()
        .name
    )  # only b varies: b matters, a does not
    with Store(db) as store:
        same = store.compare(grid, random).importance
        other = store.compare(grid, swapped).importance
    assert same is not None and same.agree and same.matters_a == ("a", "b") and same.rank_correlation == 1.0
    assert other is not None and not other.agree and other.matters_b == ("b",)
    shown = CliRunner().invoke(cli, ["compare", grid, swapped, "--store", str(db)])
    assert "importance: A and B disagree on what matters (A: a, b; B: b)" in shown.stdout
    data = json.loads(CliRunner().invoke(cli, ["compare", grid, random, "--store", str(db), "--json"]).stdout)
    assert data["importance"]["agree"] is True


def test_the_report_shows_the_analysis_figures_deterministically(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    names = [_grid(db), _random(db, n_iter=20)]
    with Store(db) as store:
        for name in names:
            html = render(build_context(store, [name]))
            assert html == render(build_context(store, [name]))  # the same bytes twice
            assert '<section class="insight"' in html and "Which parameters matter" in html
            for figure in ("insight-importance", "insight-heatmap", "insight-history", "insight-parallel"):
                assert f'<figure class="insight-figure {figure}">' in html, figure
            assert "<script" not in html
            assert 'fill="#' not in html and 'stroke="#' not in html  # colours come from the CSS, per scheme


def test_report_labels_are_escaped(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    grid = {"a": [0, 1], "b": [0, 1], "c": ["<b>bold</b>", "x&y"]}
    search = hptrack.GridSearchCV(ShareClassifier(), grid, cv=5, store=db).fit(X, Y)
    with Store(db) as store:
        html = render(build_context(store, [search.recorded_study().name]))
    section = html[html.index('<section class="insight"') :]
    section = section[: section.index("</section>")]
    assert "<b>bold" not in section and "&lt;b&gt;bold" in section and "x&amp;y" in section
