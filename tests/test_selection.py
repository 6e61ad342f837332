"""Selection: listeners prefer speakers by prestige, degree or the critic's score."""

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pytest

from society.config import ConfigError, Scenario, SelectionConfig
from society.lm.ngram import NGramLM
from society.lm.tokenizer import SharedTokenizer
from society.sim.model import Society
from society.sim.selection import attention, critic_scores
from tests.cheap_metrics import cheap_metrics

REAL = [
    "the man sees the dog .",
    "a woman sees the man .",
    "the dog sleeps .",
    "the old man walks the dog .",
] * 5


@dataclass
class Voice:
    """A stand-in speaker: what selection reads of one."""

    unique_id: int
    node: int
    utterances: list[str] = field(default_factory=list)
    kept_from: list[int] = field(default_factory=list)


def no_critic():
    raise AssertionError("the critic is built only to select by critic")


@pytest.fixture
def star() -> tuple[list[Voice], nx.Graph]:
    """A hub (node 0, degree 3) with three leaves; speaker ids are node + 10."""
    return [Voice(n + 10, n) for n in range(4)], nx.star_graph(3)


@pytest.fixture(scope="module")
def critic() -> NGramLM:
    tok = SharedTokenizer.train(REAL, 300, 1)
    lm = NGramLM(tok, order=3)
    lm.fit(REAL)
    return lm


def test_no_selection_means_no_factors(star):
    speakers, graph = star
    for config in (SelectionConfig(), SelectionConfig(by="degree", strength=0)):
        assert attention(speakers, graph, config, no_critic) == {}


def test_unknown_selection_is_a_config_error():
    with pytest.raises(ConfigError, match="selection.by"):
        Scenario().with_overrides({"selection.by": "beauty"})


def test_degree_factors(star):
    speakers, graph = star
    factors = attention(speakers, graph, SelectionConfig(by="degree", strength=2.0), no_critic)
    assert factors == pytest.approx({10: 1.0, 11: 1 / 9, 12: 1 / 9, 13: 1 / 9})


def test_static_prestige_from_the_graph(star):
    speakers, graph = star
    graph.nodes[2]["prestige"] = 10.0  # the others default to 1
    speakers[0].kept_from = [11, 11, 11]  # ignored: the graph's prestige wins
    factors = attention(speakers, graph, SelectionConfig(by="prestige"), no_critic)
    assert factors == {10: 0.1, 11: 0.1, 12: 1.0, 13: 0.1}


def test_dynamic_prestige_counts_what_listeners_kept(star):
    speakers, graph = star
    speakers[0].kept_from = [11, 11, 12]
    speakers[1].kept_from = [11, 10]
    speakers[3].kept_from = [11]
    # kept: 10 once, 11 four times, 12 once, 13 never; scores are 1 + kept
    factors = attention(speakers, graph, SelectionConfig(by="prestige"), no_critic)
    assert factors == pytest.approx({10: 2 / 5, 11: 1.0, 12: 2 / 5, 13: 1 / 5})
    sharper = attention(speakers, graph, SelectionConfig(by="prestige", strength=3), no_critic)
    assert sharper == pytest.approx({10: 8 / 125, 11: 1.0, 12: 8 / 125, 13: 1 / 125})


def test_critic_scores_are_inverse_perplexity(critic):
    texts = ["the man sees the dog .", "dog the . sees man the"]
    speakers = [Voice(1, 0, texts), Voice(2, 1, texts[:1]), Voice(3, 2)]
    scores = critic_scores(speakers, critic)
    loglik, tokens = critic.score(texts)
    assert scores[0] == pytest.approx(np.exp(loglik.sum() / tokens.sum()))
    assert scores[1] == pytest.approx(np.exp(loglik[0] / tokens[0]))
    assert scores[2] == 0.0  # a silent speaker
    assert scores[1] > scores[0]  # the scrambled text costs the first speaker


def test_critic_selection_avoids_a_babbler(star, critic):
    speakers, graph = star
    rng = np.random.default_rng(0)
    words = sorted({w for t in REAL for w in t.split()})
    for agent in speakers:
        agent.utterances = REAL[agent.node : agent.node + 4]
    speakers[2].utterances = [" ".join(rng.choice(words, 6)) for _ in range(4)]
    asked = []

    def chosen():
        asked.append(1)
        return critic

    factors = attention(speakers, graph, SelectionConfig(by="critic", strength=4), chosen)
    assert asked == [1]
    assert min(factors, key=factors.get) == 12
    assert max(factors.values()) == 1.0 and factors[12] < 0.1


def test_all_silent_means_no_factors(star, critic):
    speakers, graph = star
    assert attention(speakers, graph, SelectionConfig(by="critic"), lambda: critic) == {}


# End to end: the society computes the factors each round and listeners follow them.


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


def test_listeners_follow_the_degree_factors(base, grammar_600):
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
    assert plain.attention == {}
    factors = {a.node: chosen.attention[a.unique_id] for a in chosen.agents}
    assert factors[0] == 1.0
    assert all(factors[n] == pytest.approx(0.75**4) for n in (1, 2, 3, 4))
    # Node 0 (degree 4) is one of three voices for each listener: 1/3 without selection.
    assert share_heard_from(plain, 0) == pytest.approx(1 / 3, abs=0.05)
    assert share_heard_from(chosen, 0) > 0.5


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
