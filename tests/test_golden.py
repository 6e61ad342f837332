"""The golden run: one small scenario whose tables and samples are stored and compared.

``tests/golden/scenario.toml`` runs into a fresh run directory; its ``rounds``, ``agents``
and ``pairs`` tables (columns, dtypes, every value) and ``samples.jsonl`` must equal the
files under ``tests/golden/``. A change that moves any number (a draw from the society's
random generator taken in another order, a measure computed differently) fails here first,
naming the first differing row and column. After an intended change, rewrite the files with

    SOCIETY_UPDATE_GOLDEN=1 pytest tests/test_golden.py

and commit them with the change, so that the diff shows what it did to the numbers.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from society.config import load_scenario
from society.run.runner import run_scenario

GOLDEN = Path(__file__).resolve().parent / "golden"
SCENARIO = GOLDEN / "scenario.toml"
TABLES = ("rounds", "agents", "pairs")
SAMPLES = "samples.jsonl"
UPDATE = os.environ.get("SOCIETY_UPDATE_GOLDEN") == "1"
KEYS = ("round", "agent", "agent_i", "agent_j")  # what names a row in a failure message


def encode(frame: pd.DataFrame) -> str:
    """A table as JSON: columns, dtypes, then one row per line (exact floats, NaN kept)."""
    columns = [str(c) for c in frame.columns]
    rows = zip(*(frame[c].tolist() for c in frame.columns), strict=True) if columns else []
    lines = [json.dumps(list(row), ensure_ascii=False) for row in rows]
    head = json.dumps({"columns": columns, "dtypes": [str(t) for t in frame.dtypes]})
    return head + "\n" + "".join(line + "\n" for line in lines)


def decode(text: str) -> tuple[list[str], list[str], list[list[Any]]]:
    """The columns, dtypes and rows that :func:`encode` wrote."""
    head, *lines = text.splitlines()
    meta = json.loads(head)
    return meta["columns"], meta["dtypes"], [json.loads(line) for line in lines]


FLOAT_DIGITS = 1e-12
"""Relative tolerance of float cells: numpy's vectorised ``log`` and ``exp`` differ in the
last bit between CPUs (AVX-512 and AVX2 builds of the same wheel), so a perplexity moves by
an ulp from one machine to the next; any change to what is computed moves it far more."""


def same(a: Any, b: Any) -> bool:
    """Equal (floats to :data:`FLOAT_DIGITS`), NaN equal to NaN, of one type (1 is not 1.0)."""
    if isinstance(a, float) and isinstance(b, float):
        both_nan = math.isnan(a) and math.isnan(b)
        return both_nan or math.isclose(a, b, rel_tol=FLOAT_DIGITS, abs_tol=0.0)
    return type(a) is type(b) and a == b


def first_difference(name: str, frame: pd.DataFrame, golden: str) -> str | None:
    """What first differs between ``frame`` and its golden file, in one line (None: nothing)."""
    columns, dtypes, rows = decode(golden)
    now_columns, now_dtypes, now_rows = decode(encode(frame))
    if now_columns != columns:
        gone = [c for c in columns if c not in now_columns]
        new = [c for c in now_columns if c not in columns]
        return f"{name}: columns differ: missing {gone}, new {new} (order: {now_columns})"
    for column, was, now in zip(columns, dtypes, now_dtypes, strict=True):
        if was != now:
            return f"{name}: column {column!r} is {now}, golden {was}"
    if len(now_rows) != len(rows):
        return f"{name}: {len(now_rows)} rows, golden {len(rows)}"
    cells = [
        (i, j)
        for i, (row, now) in enumerate(zip(rows, now_rows, strict=True))
        for j in range(len(columns))
        if not same(row[j], now[j])
    ]
    if not cells:
        return None
    i, j = cells[0]
    where = ", ".join(f"{k}={rows[i][columns.index(k)]}" for k in KEYS if k in columns)
    return (
        f"{name}: row {i} ({where}), column {columns[j]!r}: {now_rows[i][j]!r}, "
        f"golden {rows[i][j]!r} ({len(cells)} cells differ in "
        f"{len({c for _, c in cells})} columns)"
    )


def first_sample_difference(text: str, golden: str) -> str | None:
    """The first differing line of ``samples.jsonl``, in one line (None: identical).

    Lines are compared as JSON records, their fields by :func:`same`.
    """
    lines, was = text.splitlines(), golden.splitlines()
    for i, (line, old) in enumerate(zip(lines, was, strict=False)):
        now, then = json.loads(line), json.loads(old)
        if not isinstance(now, dict) or not isinstance(then, dict):
            now, then = {"": now}, {"": then}
        if list(now) != list(then) or not all(same(now[k], then[k]) for k in now):
            return f"{SAMPLES}: line {i + 1}: {line[:160]!r}, golden {old[:160]!r}"
    if len(lines) != len(was):
        return f"{SAMPLES}: {len(lines)} lines, golden {len(was)}"
    return None


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return run_scenario(load_scenario(SCENARIO), tmp_path_factory.mktemp("golden") / "run")


@pytest.mark.parametrize("name", TABLES)
def test_table_matches_the_golden_file(run, name):
    frame = pd.read_parquet(run / "metrics" / f"{name}.parquet")
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.write_text(encode(frame), encoding="utf-8")
    difference = first_difference(f"{name}.parquet", frame, path.read_text(encoding="utf-8"))
    assert difference is None, difference + " (SOCIETY_UPDATE_GOLDEN=1 rewrites tests/golden/)"


def test_samples_match_the_golden_file(run):
    text = (run / SAMPLES).read_text(encoding="utf-8")
    path = GOLDEN / SAMPLES
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    difference = first_sample_difference(text, path.read_text(encoding="utf-8"))
    assert difference is None, difference + " (SOCIETY_UPDATE_GOLDEN=1 rewrites tests/golden/)"


def test_the_golden_run_exercises_events_curation_and_noise(run):
    """The scenario keeps doing what it is there for: an event, curation, mutation."""
    events = json.loads((run / "events.json").read_text())
    assert [e["action"] for e in events] == ["isolate_communities", "set"]
    samples = pd.read_json(run / SAMPLES, lines=True)
    heard = samples.dropna(subset=["heard"])
    assert (heard["kept"] < heard["heard"]).any()  # listeners dropped something
    rounds = pd.read_parquet(run / "metrics" / "rounds.parquet")
    assert list(rounds["round"]) == [0, 1, 2, 3]


def test_a_changed_number_names_its_row_and_column():
    frame = pd.DataFrame({"round": [0, 1], "agent": [3, 4], "value": [0.5, float("nan")]})
    golden = encode(frame)
    assert first_difference("t", frame, golden) is None
    changed = frame.assign(value=[0.5, 0.25])
    message = first_difference("t", changed, golden)
    assert message == (
        "t: row 1 (round=1, agent=4), column 'value': 0.25, golden nan "
        "(1 cells differ in 1 columns)"
    )
    assert "column 'value' is int64" in first_difference("t", frame.assign(value=[1, 2]), golden)
    assert "missing ['value']" in first_difference("t", frame.drop(columns="value"), golden)
    assert first_sample_difference('1\n"b"\n', '1\n"c"\n') == (
        "samples.jsonl: line 2: '\"b\"', golden '\"c\"'"
    )
    assert first_sample_difference('{"p": 1.0}', '{"p": 1.0000000000000002}') is None  # an ulp
    assert first_sample_difference('{"p": 1.0}', '{"p": 1.000001}') is not None
    assert same(2.5, 2.5 * (1 + 1e-15)) and not same(2.5, 2.5 * (1 + 1e-9)) and not same(1, 1.0)
