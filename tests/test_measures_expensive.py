import numpy as np
import pytest

from society.metrics import semantic
from society.metrics.measures.expensive import (
    RealVsGenerated,
    SelfBleu,
    Semantic,
    due,
    sampled,
)
from tests.records import agent, measure, record, setup

SAME = ["the same words again"] * 6
VARIED = [f"word{i} other{i} thing{i} more{i}" for i in range(6)]


def test_costly_measures_are_due_on_round_0_the_last_and_every_k():
    due_rounds = [r for r in range(8) if due(record([agent(1, ["a"])], round_=r, last=7), 3)]
    assert due_rounds == [0, 3, 6, 7]


def test_agent_samples_are_seeded_and_independent_of_order():
    agents = [agent(i, ["a"]) for i in range(10)]
    rec, reversed_rec = record(agents), record(agents[::-1])
    chosen = sampled(rec, 3, seed=0, purpose=1)
    assert len(chosen) == 3 and chosen == sampled(reversed_rec, 3, seed=0, purpose=1)
    assert chosen != sampled(rec, 3, seed=0, purpose=2) or chosen != sampled(rec, 3, 1, 1)
    assert sampled(rec, 10, seed=0, purpose=1) == set(range(10))


def test_self_bleu_of_repeated_texts_is_one_and_of_disjoint_texts_is_low():
    rec = record([agent(1, SAME), agent(2, VARIED)], round_=0)
    same, varied = measure(SelfBleu, rec, setup(self_bleu_texts=3)).agent
    assert same["self_bleu"] == pytest.approx(1.0)
    assert varied["self_bleu"] < 0.1  # only the smoothing epsilon: no n-gram is shared


def test_self_bleu_is_nan_off_round_or_off():
    rec = record([agent(1, SAME)], round_=1)
    assert np.isnan(measure(SelfBleu, rec, setup()).agent[0]["self_bleu"])
    rec = record([agent(1, SAME)], round_=0)
    assert np.isnan(measure(SelfBleu, rec, setup(self_bleu_texts=0)).agent[0]["self_bleu"])


def test_classifier_tells_other_words_from_real_ones():
    real = [f"the cat sat on mat {i}" for i in range(10)]
    fake = [f"zzz qqq xxx {i}" for i in range(10)]
    rec = record([agent(1, fake), agent(2, fake)], round_=0)
    rows = measure(RealVsGenerated, rec, setup(heldout=real, classifier_agents=1)).agent
    values = [r["real_vs_generated"] for r in rows]
    assert sum(np.isfinite(values)) == 1  # one agent sampled
    assert np.nanmax(values) == pytest.approx(1.0)
    off = measure(RealVsGenerated, record([agent(1, fake)], round_=1), setup(heldout=real))
    assert np.isnan(off.agent[0]["real_vs_generated"])


def test_semantic_drift_and_diversity_of_known_vectors(monkeypatch):
    def embed(texts):  # "a..." texts point one way, all others another
        return np.array([[1.0, 0.0] if t.startswith("a") else [0.0, 1.0] for t in texts])

    monkeypatch.setattr(semantic, "embed", embed)
    heldout = ["a real text", "another real text"]
    rec = record([agent(1, ["a b", "a c"]), agent(2, ["a b", "x y"])], round_=0)
    alike, mixed = measure(Semantic, rec, setup(heldout=heldout, embeddings=True)).agent
    assert alike["semantic_drift"] == pytest.approx(0.0)
    assert alike["semantic_diversity"] == pytest.approx(0.0)
    assert mixed["semantic_drift"] == pytest.approx(1 - 1 / np.sqrt(2))
    assert mixed["semantic_diversity"] == pytest.approx(1.0)


def test_semantic_is_nan_without_embeddings():
    rec = record([agent(1, ["a b"])], round_=0)
    (row,) = measure(Semantic, rec, setup()).agent
    assert np.isnan(row["semantic_drift"]) and np.isnan(row["semantic_diversity"])
