from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from society.config import MetricsConfig
from society.corpora import load_corpus
from society.metrics.suite import AGENT_EXTRA, ROUND_EXTRA, Measures
from society.metrics.text import tokenize_all
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


def test_every_new_column_is_in_the_tables(society):
    agents, rounds = society.agent_table(), society.round_table()
    assert set(AGENT_EXTRA) <= set(agents.columns)
    assert set(ROUND_EXTRA) <= set(rounds.columns)
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


def test_grammaticality_against_the_generating_grammar():
    corpus = load_corpus("grammar", holdout=0.2, split_seed=0, grammar_texts=300)
    measures = Measures(Society(**TINY).scenario.metrics, corpus, _Ancestor(), seed=0)
    good = corpus.heldout[:20]
    bad = [" ".join(reversed(t.split())) + " zzz" for t in good]
    for texts, expected in ((good, 1.0), (bad, 0.0)):
        agent = SimpleNamespace(utterances=texts, unique_id=1)
        out = measures.agent(agent, tokenize_all(texts), 0, False, False, False)
        assert out["grammatical"] == expected
    assert out["neologism_share"] > 0  # "zzz" is not a word of the grammar


def test_unique_n_counts_distinct_ngrams_within_texts():
    corpus = load_corpus("grammar", holdout=0.2, split_seed=0, grammar_texts=300)
    measures = Measures(MetricsConfig(), corpus, _Ancestor(), seed=0)
    texts = ["a b a b", "b a"]
    agent = SimpleNamespace(utterances=texts, unique_id=1)
    out = measures.agent(agent, tokenize_all(texts), 0, False, False, False)
    # (a b) and (b a); (a b a) and (b a b); nothing across the boundary between the texts
    assert [out[f"unique_{n}"] for n in (1, 2, 3)] == [2, 2, 2]


class _Ancestor:
    def score(self, texts):
        return -np.ones(len(texts)) * 2.0, np.ones(len(texts))


def test_round_dialect_columns_are_consistent(society):
    rounds, agents = society.round_table(), society.agent_table()
    assert rounds["dialect_null_silhouette"].notna().all()
    found = agents.groupby("round")["dialect"].nunique()
    assert (rounds.set_index("round")["dialects"] == found).all()
    assert rounds["mantel_p"].between(1 / 20, 1).all()  # 19 permutations


def test_hops_treat_unreachable_as_one_beyond_the_farthest():
    import networkx as nx

    graph = nx.Graph([(0, 1), (1, 2), (3, 4)])
    hops = Measures.hops(graph, [0, 2, 3])
    assert hops.tolist() == [[0, 2, 3], [2, 0, 3], [3, 3, 0]]


def test_dialects_can_cluster_the_model_based_divergence():
    society = run(rounds=2, metrics_dialect_distance="cross_entropy_div", metrics_cross_agents=6)
    rounds = society.round_table()
    assert rounds["dialect_null_silhouette"].isna().all()  # the shuffle null is for JSD only
    assert rounds.loc[0, "dialects"] == 1  # round 0: every agent holds the ancestor
    assert society.pair_table()["cross_entropy_div"].notna().all()
