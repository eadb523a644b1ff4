"""The spec keys of an objective study (SPEC section 11): ``objective`` instead of
``estimator``, and ``metrics`` that name the keys its function returns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def code_key(raw: Mapping[str, Any], fail: Any) -> str:
    """``"estimator"`` or ``"objective"``: what the spec runs (exactly one of the two)."""
    if "estimator" in raw and "objective" in raw:
        raise fail("give estimator or objective, not both; keep the one the study runs")
    if "estimator" not in raw and "objective" not in raw:
        raise fail(
            "missing required key 'estimator'; add estimator = \"sklearn.svm:SVC\", or objective = "
            '"train:objective" to call a function fn(params, fold) instead'
        )
    return "estimator" if "estimator" in raw else "objective"


def check_plain_metric(metric: str, fail: Any) -> None:
    """Refuse an objective's metric that is not a plain name (it names a key ``fn`` returns)."""
    if not _PLAIN_NAME.fullmatch(metric):
        raise fail(
            f"metrics: {metric!r} is not a plain name (letters, digits, _ . -); name a key "
            'that the objective returns, e.g. "val_accuracy"'
        )
