"""The formatting the CLI and the report share: one number format, one CSV writer."""

from __future__ import annotations

import csv
import io
import math

import pytest

from hptrack._csv import csv_text
from hptrack._format import number, short


@pytest.mark.parametrize(
    ("value", "kwargs", "text"),
    [
        (0.912345, {}, "0.9123"),
        (1, {}, "1.0000"),
        (-0.0, {}, "0.0000"),  # never "-0.0000"
        (None, {}, "-"),
        (math.nan, {}, "-"),
        (math.inf, {}, "-"),  # as --json, which writes null
        (None, {"missing": "–"}, "–"),  # the report's en dash
        (0.25, {"digits": 2}, "0.25"),
        (0.5, {"signed": True}, "+0.5000"),
        (-0.0, {"signed": True}, "+0.0000"),
        (-0.01, {"signed": True}, "-0.0100"),
        (math.nan, {"signed": True, "missing": "–"}, "–"),
    ],
)
def test_number_is_the_one_score_format(value, kwargs, text):
    assert number(value, **kwargs) == text


def test_short_hash_and_its_missing_text():
    assert short("ab" * 32) == "ab" * 6
    assert short(None) == "-" and short("", missing="–") == "–"


def test_csv_text_writes_export_rows():
    rows = [
        {"number": 0, "param_C": 0.1, "seed": None},
        {"number": 1, "param_C": [1, 2], "origin": {"0": {"study": "a"}}},
    ]
    text = csv_text(rows)
    assert text.splitlines()[0] == "number,param_C,seed,origin"  # columns in order of first appearance
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[0] == {"number": "0", "param_C": "0.1", "seed": "", "origin": ""}
    assert parsed[1] == {"number": "1", "param_C": "[1, 2]", "seed": "", "origin": '{"0": {"study": "a"}}'}
