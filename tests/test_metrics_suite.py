import pandas as pd
import pytest

from society.metrics.suite import AGENT_COLUMNS, MEASURES, PAIR_COLUMNS, ROUND_COLUMNS
from society.sim.model import Society

TINY = {
    "rounds": 2,
    "network_kind": "caveman",
    "network_communities": 2,
    "network_size": 3,
    "speech_utterances": 30,
    "speech_max_tokens": 20,
    "real_data_max_texts": 1200,
    "tokenizer_vocab_size": 700,
    "metrics_heldout_texts": 40,
    "metrics_mantel_permutations": 19,
    "metrics_classifier_agents": 2,
    "metrics_expensive_every": 2,
}


def run(**overrides) -> Society:
    society = Society(**{**TINY, **overrides})
    for _ in range(society.rounds):
        society.step()
    return society


@pytest.fixture(scope="module")
def society() -> Society:
    return run()


def test_the_tables_have_exactly_the_declared_columns_in_order(society):
    assert tuple(society.agent_table().columns) == AGENT_COLUMNS
    assert tuple(society.pair_table().columns) == PAIR_COLUMNS
    assert tuple(society.round_table().columns) == ROUND_COLUMNS
    assert society.measures.columns("round") == ROUND_COLUMNS
    assert [m.name for m in society.measures] == [cls.name for cls in MEASURES]
    assert len({cls.name for cls in MEASURES}) == len(MEASURES)


def test_side_tables_come_from_their_measures(society):
    tables = society.measures.tables()
    assert set(tables) == {"innovations", "expressions"}
    assert set(tables["innovations"]["round"]) <= {0, 1, 2}


def test_agents_carry_no_measurements(society):
    for agent in society.agents:
        for name in ("metrics", "ancestor_scores", "neologism_counts"):
            assert not hasattr(agent, name)


def test_every_new_column_is_filled(society):
    agents, rounds = society.agent_table(), society.round_table()
    assert agents["dialect"].notna().all()
    assert (agents["dialect"] >= 0).all()
    assert rounds.loc[0, "tail_mass_ratio"] == pytest.approx(1.0)
    assert (agents["unique_1"] == agents["vocab_size"]).all()
    assert agents["zipf"].between(0.2, 3).all()
    assert agents["neologism_share"].between(0, 1).all()
    assert agents["grammatical"].isna().all()  # KJV: no grammar to check against


def test_expensive_measures_only_on_due_rounds_and_sampled_agents(society):
    agents = society.agent_table()
    by_round = agents.groupby("round")
    assert by_round["self_bleu"].count().to_dict() == {0: 6, 1: 0, 2: 6}
    assert by_round["real_vs_generated"].count().to_dict() == {0: 2, 1: 0, 2: 2}
    assert agents["self_bleu"].dropna().between(0, 1).all()


def test_measuring_does_not_change_the_simulation(society):
    other = run(
        metrics_classifier_agents=0,
        metrics_self_bleu_texts=5,
        metrics_expensive_every=1,
        metrics_mantel_permutations=0,
        metrics_dialect_null=0,
    )
    columns = ["round", "agent", "perplexity", "distinct_2", "zipf"]
    pd.testing.assert_frame_equal(society.agent_table()[columns], other.agent_table()[columns])


def test_ancestor_perplexity_is_logged_per_utterance():
    society = Society(**{**TINY, "metrics_ancestor_texts": 4})
    society.step()
    said = [row for row in society.pop_samples() if row["round"] == 0]
    scored = [row["ancestor_ppl"] for row in said if row["ancestor_ppl"] is not None]
    assert len(scored) == 4 * len(society.agents)
    assert all(p > 1 for p in scored)
    per_agent = society.agent_table().query("round == 0")["ancestor_ppl"]
    assert (per_agent > 1).all()


def test_unmeasured_rounds_log_no_ancestor_perplexity():
    society = Society(**{**TINY, "rounds": 3, "metrics_every": 2})
    society.step()  # logs round 0 (measured)
    society.step()  # logs round 1 (not measured)
    rows = society.pop_samples()
    assert any(r["ancestor_ppl"] is not None for r in rows if r["round"] == 0)
    assert all(r["ancestor_ppl"] is None for r in rows if r["round"] == 1)


def test_round_dialect_columns_are_consistent(society):
    rounds, agents = society.round_table(), society.agent_table()
    assert rounds["dialect_p"].between(1 / 100, 1).all()  # 99 deals by default
    assert (rounds.loc[rounds["dialect_p"] >= 0.05, "dialects"] == 1).all()
    found = agents.groupby("round")["dialect"].nunique()
    assert (rounds.set_index("round")["dialects"] == found).all()
    assert rounds["mantel_p"].between(1 / 20, 1).all()  # 19 permutations


def test_dialects_can_cluster_the_model_based_divergence():
    society = run(rounds=2, metrics_dialect_distance="cross_entropy_div", metrics_cross_agents=6)
    rounds = society.round_table()
    assert rounds["dialect_p"].isna()[0]  # round 0: identical models, nothing to cluster
    assert rounds["dialect_p"][1:].notna().all()  # the test deals the texts (n-gram JSD)
    assert rounds.loc[0, "dialects"] == 1  # round 0: every agent holds the ancestor
    assert society.pair_table()["cross_entropy_div"].notna().all()
