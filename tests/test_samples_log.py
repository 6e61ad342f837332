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
