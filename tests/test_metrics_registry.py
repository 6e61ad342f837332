import numpy as np
import pandas as pd
import pytest

from society.metrics.registry import Columns, Measure, Registry, Results, Rows, table_columns
from tests.records import agent, record, setup


class Words(Measure):
    name = "words"
    columns = Columns(agent=("words",), pair=("gap",))

    def measure(self, record, before):
        pairs = record.pairs
        words = [sum(map(len, a.docs)) for a in record.agents]
        gap = [abs(words[i] - words[j]) for i, j in pairs] if pairs is not None else None
        return Rows(
            agent=[{"words": w} for w in words],
            pair=pd.DataFrame({"gap": gap}) if gap is not None else None,
            utterances={"length": [[len(d) for d in a.docs] for a in record.agents]},
        )


class Total(Measure):
    name = "total"
    columns = Columns(round=("words", "largest_gap"))

    def __init__(self, run):
        super().__init__(run)
        self.calls = 0

    def measure(self, record, before):
        self.calls += 1
        pairs = before.pairs
        return Rows(
            round={
                "words": sum(before.column("words")),
                "largest_gap": pairs["gap"].max() if pairs is not None else np.nan,
            }
        )

    def tables(self):
        return {"calls": pd.DataFrame({"calls": [self.calls]})}


class Wrong(Measure):
    name = "wrong"
    columns = Columns(round=("declared",))

    def measure(self, record, before):
        return Rows(round={"other": 1})


def three():
    return record([agent(1, ["a b"]), agent(2, ["a b c d"]), agent(3, [""])], round_=4)


def test_later_measures_read_earlier_ones_and_tables_follow_the_declarations():
    registry = Registry(setup(), [Words, Total])
    results = registry.measure(three())
    assert results.round == {"words": 6, "largest_gap": 4}
    assert results.column("words") == [2, 4, 0]
    assert dict(results.agent_row(2)) == {"words": 4}
    assert dict(results.agent_row(99)) == {}
    assert results.utterances_by_agent("length") == {1: (2,), 2: (4,), 3: (0,)}
    table = results.pair_table()
    assert list(table.columns) == ["round", "gap"] and table["round"].eq(4).all()
    assert registry.columns("agent") == ("round", "agent", "words")
    assert registry.columns("pair") == ("round", "gap")
    assert registry.columns("round") == ("words", "largest_gap")
    assert registry.tables()["calls"]["calls"].tolist() == [1]


def test_measures_cannot_write_what_they_have_not_declared():
    with pytest.raises(ValueError, match="wrong"):
        Registry(setup(), [Wrong]).measure(three())


def test_measures_see_results_read_only():
    results = Registry(setup(), [Words, Total]).measure(three())
    with pytest.raises(TypeError):
        results.round["words"] = 0  # type: ignore[index]
    with pytest.raises(TypeError):
        results.agent_rows()[0]["words"] = 0  # type: ignore[index]


def test_no_pairs_means_no_pair_rows():
    rec = record([agent(1, ["a"]), agent(2, ["b"])], pairs="none")
    results = Registry(setup(), [Words, Total]).measure(rec)
    assert results.pairs is None and results.pair_table() is None
    assert np.isnan(results.round["largest_gap"])


def test_a_column_declared_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        table_columns([Total, Total], "round")
    with pytest.raises(ValueError, match="twice"):
        Registry(setup(), [Words, Words])


def test_seconds_per_measure_are_reported_by_name():
    seconds: dict[str, float] = {}
    Registry(setup(), [Words, Total]).measure(three(), seconds)
    assert set(seconds) == {"words", "total"}
    assert all(s >= 0 for s in seconds.values())


def test_results_start_empty():
    results = Results(three())
    assert results.round == {} and results.utterances("anything") == ()
    assert list(results.pairs.columns) == [] and len(results.pairs) == 3


class Scoring(Measure):
    """Stands for a measure that scores with every agent's model."""

    name = "scoring"
    columns = Columns(round=("scored",))
    scores_every_model = True

    def __init__(self, run):
        super().__init__(run)
        self.log = None

    def measure(self, record, before):
        self.log.append(self.name)
        return Rows(round={"scored": 1})


def test_models_are_released_after_the_last_measure_that_scores_them_all():
    log = []
    registry = Registry(setup(), [Words, Scoring, Total])
    registry.measures[1].log = log
    registry.measure(three(), release_models=lambda: log.append("released"))
    assert log == ["scoring", "released"]
    without = Registry(setup(), [Words, Total])
    calls = []
    without.measure(three(), release_models=lambda: calls.append(1))
    assert calls == [1]  # no measure needs every model: released before the first
    assert registry.measure(three()).round["scored"] == 1  # no callback: nothing to call


def test_a_society_releases_its_learned_tables_after_the_perplexity_measure():
    from society.config import Scenario
    from society.metrics.measures.perplexity import HeldoutPerplexity
    from society.sim.model import Society

    assert HeldoutPerplexity.scores_every_model
    society = Society(
        Scenario(),
        network_agents=6,
        speech_utterances=3,
        metrics_cross_agents=2,
        rounds=2,
        seed=2,
    )
    shared = {id(a.lm._built) for a in society.agents}
    assert len(shared) == 1 and None not in shared  # round 0: clones keep the ancestor's
    for _ in range(2):  # learn, speak (with tables derived anew in round 2), measure
        society.step()
        built = [a.lm._built is not None for a in society.agents]
        assert sum(built) == 2  # the two cross-entropy agents scored again, on demand
