"""The utterance log: compact tuples between rounds, the same dicts (and lines) out."""

import json

import pytest

from society.sim.samples import FIELDS, SampleRows


def test_rows_read_back_as_dicts_in_field_order():
    rows = SampleRows([(1, 7, "a text", 2, 1, 31.5), (1, 8, "more", None, None, None)])
    assert len(rows) == 2
    assert rows[0] == {
        "round": 1,
        "agent": 7,
        "text": "a text",
        "heard": 2,
        "kept": 1,
        "ancestor_ppl": 31.5,
    }
    assert list(rows[1]) == list(FIELDS)
    assert rows[1:] == [dict(zip(FIELDS, (1, 8, "more", None, None, None), strict=True))]
    assert [r["agent"] for r in rows] == [7, 8]
    assert json.dumps(rows[0]) == (
        '{"round": 1, "agent": 7, "text": "a text", "heard": 2, "kept": 1, "ancestor_ppl": 31.5}'
    )
    with pytest.raises(IndexError):
        rows[2]


def test_a_society_logs_tuples_and_pops_dicts():
    from society.config import Scenario
    from society.sim.model import Society

    society = Society(Scenario(), network_agents=3, speech_utterances=2, rounds=1, seed=1)
    society.step()
    assert society.sample_log and all(type(row) is tuple for row in society.sample_log)
    popped = society.pop_samples()
    assert not society.sample_log
    assert len(popped) == sum(len(agent.utterances) for agent in society.agents) > 0
    assert {row["round"] for row in popped} == {0}
    assert all(set(row) == set(FIELDS) and isinstance(row["text"], str) for row in popped)


def test_json_lines_are_what_the_encoder_writes():
    import numpy as np

    encode = json.JSONEncoder(ensure_ascii=False).encode
    texts = [
        "plain",
        'quote " and \\ slash',
        "tab\tnew\nline\x00\x1f",
        "caf\u00e9 \u2019 \U0001f600",
        "",
    ]
    values = [None, 0, 3, 10**20, True]
    floats = [None, 31.5, 1e-300, 1 / 3, float("nan"), float("inf"), -0.0, np.float64(2.5)]
    rows = [
        (r, a, t, h, k, p)
        for r, a in [(0, 1), (12, 999_999)]
        for t in texts
        for h in values
        for k in values[:3]
        for p in floats
    ]
    logged = SampleRows(rows)
    expected = "".join(encode(dict(zip(FIELDS, row, strict=True))) + "\n" for row in rows[:-7])
    assert logged.json_lines(0, len(rows) - 7) == expected
    assert logged.json_lines(5, 9) == "".join(
        encode(dict(zip(FIELDS, row, strict=True))) + "\n" for row in rows[5:9]
    )
