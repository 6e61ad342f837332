"""Selection: listeners prefer speakers by prestige, degree or the critic's score."""

import numpy as np
import pytest

from society.config import ConfigError, Scenario
from society.sim.model import Society
from society.sim.selection import attention
from tests.cheap_metrics import cheap_metrics


@pytest.fixture(scope="module")
def base() -> Scenario:
    overrides = {
        "rounds": 3,
        "network.kind": "complete",
        "network.agents": 5,
        "real_data.source": "grammar",
        "real_data.max_texts": 600,
        "speech.utterances": 60,
        "speech.max_tokens": 20,
        "listening.texts": 60,
        "tokenizer.vocab_size": 400,
        "metrics.heldout_texts": 20,
        "metrics.every": 100,
        **cheap_metrics(),
    }
    return Scenario().with_overrides(overrides)


def share_heard_from(society, speaker_node) -> float:
    """Mean share of its heard texts that each neighbour of ``speaker_node`` drew from it."""
    ids = {a.unique_id: a.node for a in society.agents}
    shares = [
        np.mean([ids[s] == speaker_node for s, _ in a.heard])
        for a in society.agents
        if society.graph.has_edge(a.node, speaker_node)
    ]
    return float(np.mean(shares))


def test_no_selection_means_no_factors(base, grammar_600):
    s = Society(base, corpus=grammar_600)
    assert attention(s) == {}
    assert (
        attention(Society(base, corpus=grammar_600, selection_by="degree", selection_strength=0))
        == {}
    )


def test_unknown_selection_is_a_config_error(base):
    with pytest.raises(ConfigError, match="selection.by"):
        base.with_overrides({"selection.by": "beauty"})


def test_degree_factors_and_effect(base, grammar_600):
    events = [{"round": 1, "action": "cut_edges", "edges": [[1, 2], [3, 4]]}]
    plain = Society(base.with_overrides({"events": events}), corpus=grammar_600)
    chosen = Society(
        base.with_overrides({"events": events}),
        corpus=grammar_600,
        selection_by="degree",
        selection_strength=4.0,
    )
    plain.step()
    chosen.step()
    factors = {a.node: chosen.attention[a.unique_id] for a in chosen.agents}
    assert factors[0] == 1.0
    assert all(factors[n] == pytest.approx(0.75**4) for n in (1, 2, 3, 4))
    # Node 0 (degree 4) is one of three voices for each listener: 1/3 without selection.
    assert share_heard_from(plain, 0) == pytest.approx(1 / 3, abs=0.05)
    assert share_heard_from(chosen, 0) > 0.5


def test_static_prestige_from_the_graph(base, grammar_600):
    s = Society(base, corpus=grammar_600, selection_by="prestige", selection_strength=1.0)
    s.graph.nodes[0]["prestige"] = 10.0
    factors = {a.node: f for a in s.agents if (f := attention(s)[a.unique_id])}
    assert factors == {0: 1.0, 1: 0.1, 2: 0.1, 3: 0.1, 4: 0.1}


def test_dynamic_prestige_counts_what_listeners_kept(base, grammar_600):
    s = Society(base, corpus=grammar_600, selection_by="prestige", selection_strength=1.0)
    s.step()
    kept = {a.unique_id: 0 for a in s.agents}
    for agent in s.agents:
        for source in agent.kept_from:
            kept[source] += 1
    top = max(kept.values()) + 1
    expected = {i: (k + 1) / top for i, k in kept.items()}
    assert attention(s) == pytest.approx(expected)


def test_prestige_concentrates_attention(base, grammar_600):
    def concentration(society):
        counts = np.zeros(len(society.agents))
        index = {a.unique_id: i for i, a in enumerate(society.agents)}
        for agent in society.agents:
            for source, _ in agent.heard:
                counts[index[source]] += 1
        return counts.max() / counts.sum()

    params = {"speech_utterances": 60, "listening_texts": 30}
    plain = Society(base, corpus=grammar_600, **params)
    rich = Society(
        base, corpus=grammar_600, selection_by="prestige", selection_strength=6.0, **params
    )
    for _ in range(3):
        plain.step()
        rich.step()
    assert concentration(rich) > concentration(plain) + 0.1


def test_critic_selection_avoids_a_babbler(base, grammar_600):
    # Per-token perplexities differ modestly (words split into predictable pieces), so a
    # high strength is what makes the preference sharp.
    s = Society(base, corpus=grammar_600, selection_by="critic", selection_strength=20.0)
    babbler = next(a for a in s.agents if a.node == 0)
    rng = np.random.default_rng(0)
    vocabulary = sorted({w for t in grammar_600.train for w in t.split()})
    babbler.utterances = [" ".join(rng.choice(vocabulary, 8)) for _ in babbler.utterances]
    s.step()
    factors = {a.node: s.attention[a.unique_id] for a in s.agents}
    # Round-0 speakers babble too (models trained on little text): the babbler is among the
    # two least attended (the least in 6 of 8 seeds, never worse than second).
    assert sorted(factors, key=factors.get).index(0) <= 1
    assert share_heard_from(s, 0) < 0.1  # 0.25 without selection
