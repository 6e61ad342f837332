"""Events change the living society: the graph, who hears whom, who learns, who is there."""

import numpy as np
import pytest

from society.config import SETTABLE, ConfigError, Scenario, SetParameter
from society.lm.base import perplexity
from society.run.checkpoints import checkpoint_due
from society.run.runner import run_scenario
from society.sim.events import EventError, rewrite_words, set_parameter
from society.sim.model import Society
from society.sim.mutation import temperature_at
from tests.cheap_metrics import cheap_metrics


@pytest.fixture(scope="module")
def base() -> Scenario:
    """Two cliques of three on the synthetic grammar; measured only at the ends."""
    overrides = {
        "rounds": 4,
        "network.kind": "caveman",
        "network.communities": 2,
        "network.size": 3,
        "real_data.source": "grammar",
        "real_data.max_texts": 600,
        "language_model.discount": 0.1,
        "speech.utterances": 30,
        "speech.max_tokens": 20,
        "tokenizer.vocab_size": 400,
        "metrics.heldout_texts": 20,
        "metrics.every": 100,
        **cheap_metrics(),
    }
    return Scenario().with_overrides(overrides)


def society(base, grammar_600, events, **params) -> Society:
    return Society(base.with_overrides({"events": events}), corpus=grammar_600, **params)


def heard_from(agent, model) -> set[int]:
    """Nodes whose utterances ``agent`` heard this round."""
    node = {a.unique_id: a.node for a in model.agents}
    return {node[s] for s, _ in agent.heard if s >= 0}


def by_node(model, node):
    return next(a for a in model.agents if a.node == node)


def test_isolate_communities_stops_cross_community_listening(base, grammar_600):
    s = society(base, grammar_600, [{"round": 2, "action": "isolate_communities"}])
    label = s.graph.nodes
    bridges = sum(label[u]["community"] != label[v]["community"] for u, v in s.graph.edges)
    assert bridges
    s.step()
    crossed = any(
        by_node(s, n).community != a.community for a in s.agents for n in heard_from(a, s)
    )
    assert crossed  # the bridge carries speech before the event
    s.step()
    for agent in s.agents:
        assert all(by_node(s, n).community == agent.community for n in heard_from(agent, s))
    assert s.event_log[0]["detail"] == f"removed {bridges} between-community edges"


def test_connect_lets_communities_hear_each_other(base, grammar_600):
    events = [
        {"round": 1, "action": "isolate_communities"},
        {"round": 2, "action": "connect", "communities": [0, 1], "bridges": 4, "weight": 5.0},
    ]
    s = society(base, grammar_600, events)
    s.step()
    s.step()
    bridges = [
        (u, v)
        for u, v in s.graph.edges
        if s.graph.nodes[u]["community"] != s.graph.nodes[v]["community"]
    ]
    assert len(bridges) == 4
    assert all(s.graph.edges[e]["weight"] == 5.0 for e in bridges)
    u, v = bridges[0]
    assert v in heard_from(by_node(s, u), s)


def test_connect_unknown_community_is_an_event_error(base, grammar_600):
    s = society(base, grammar_600, [{"round": 1, "action": "connect", "communities": [0, 7]}])
    with pytest.raises(EventError, match="no community 7"):
        s.step()


def test_cut_edges_silences_that_neighbour(base, grammar_600):
    s = society(base, grammar_600, [{"round": 1, "action": "cut_edges", "edges": [[0, 1]]}])
    s.step()
    assert not s.graph.has_edge(0, 1)
    assert 1 not in heard_from(by_node(s, 0), s)
    assert 2 in heard_from(by_node(s, 0), s)


def test_set_changes_the_real_share_mid_run(base, grammar_600):
    s = society(
        base,
        grammar_600,
        [{"round": 2, "action": "set", "key": "real_data.fraction", "value": 0.5}],
    )
    s.step()
    assert all(sum(src == -1 for src, _ in a.heard) == 0 for a in s.agents)
    s.step()
    assert s.scenario.real_data.fraction == 0.5
    assert all(sum(src == -1 for src, _ in a.heard) == 15 for a in s.agents)


def test_set_with_a_bad_value_fails_before_the_society_exists(base):
    bad = [{"round": 1, "action": "set", "key": "speech.top_p", "value": 3}]
    with pytest.raises(ConfigError, match=r"events\.0\.value: speech\.top_p = 3: Input should"):
        base.with_overrides({"events": bad})


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [("network.kind", "ring", "key"), ("speech.top_p", 3, "value")],
)
def test_a_set_from_outside_the_schedule_is_checked_the_same_way(
    base, grammar_600, key, value, field
):
    """The dashboard applies events the file never scheduled: the handler checks them too."""
    s = society(base, grammar_600, [])
    event = SetParameter(round=1, action="set", key=key, value=value)
    with pytest.raises(EventError, match=rf"^events \(round 1, set\): {field}: "):
        set_parameter(s, event)
    assert s.scenario == base


def test_set_keeps_the_later_events(base, grammar_600):
    events = [
        {"round": 1, "action": "set", "key": "speech.temperature", "value": 1.3},
        {"round": 2, "action": "isolate_communities"},
    ]
    s = society(base, grammar_600, events)
    s.step()
    assert s.scenario.speech.temperature == 1.3
    assert len(s.scenario.events) == 2
    s.step()
    assert [e["action"] for e in s.event_log] == ["set", "isolate_communities"]


LIVE = {  # a settable key of each section, a new value, and what shows it took effect
    "speech.utterances": (7, lambda s, lms: {len(a.utterances) for a in s.agents} == {7}),
    "listening.texts": (5, lambda s, lms: {len(a.heard) for a in s.agents} == {5}),
    "curation.min_words": (1000, lambda s, lms: all(a.heard and not a.kept for a in s.agents)),
    "selection.by": ("degree", lambda s, lms: bool(s.attention)),
    "mutation.temperature_schedule": (
        [[1, 0.5]],
        lambda s, lms: temperature_at(s.scenario, s.round) == 0.5,
    ),
    "learning.init": (  # relearning from the ancestor gives every agent a new model
        "ancestor",
        lambda s, lms: all(a.lm is not lms[a.unique_id] for a in s.agents),
    ),
    "checkpoints.every": (1, lambda s, lms: checkpoint_due(s.scenario, 1)),
}


def test_every_settable_section_has_a_live_test():
    assert {key.split(".")[0] for key in LIVE} | {"real_data"} == set(SETTABLE)


@pytest.mark.parametrize("key", LIVE)
def test_a_settable_key_takes_effect_in_its_round(base, grammar_600, key):
    """What the round loop reads from the living scenario: a set changes it at once."""
    value, took_effect = LIVE[key]
    s = society(base, grammar_600, [{"round": 1, "action": "set", "key": key, "value": value}])
    models = {a.unique_id: a.lm for a in s.agents}
    assert not took_effect(s, models)
    s.step()
    assert took_effect(s, models)


def test_migrate_moves_an_agent_and_what_it_hears(base, grammar_600):
    s = society(base, grammar_600, [{"round": 1, "action": "migrate", "nodes": [0], "to": 1}])
    degree = s.graph.degree(0)
    s.step()
    mover = by_node(s, 0)
    assert mover.community == 1 and s.graph.nodes[0]["community"] == 1
    assert set(s.graph.neighbors(0)) <= {3, 4, 5}
    assert heard_from(mover, s) <= {3, 4, 5}
    assert s.graph.degree(0) == min(degree, 3)  # as many links as it had


def test_migrate_to_an_empty_community_founds_an_isolated_group(base, grammar_600):
    s = society(base, grammar_600, [{"round": 1, "action": "migrate", "nodes": [3, 4], "to": 9}])
    s.step()
    assert set(s.graph.neighbors(3)) == {4} and set(s.graph.neighbors(4)) == {3}
    assert heard_from(by_node(s, 3), s) == {4}
    assert "founded community 9" in s.event_log[0]["detail"]


def test_add_agents_grow_up_on_their_neighbours_speech(base, grammar_600):
    events = [{"round": 2, "action": "add_agents", "count": 2, "community": 1, "links": 2}]
    s = society(base, grammar_600, events)
    s.step()
    s.step()
    assert len(s.agents) == 8
    newcomers = [a for a in s.agents if a.node >= 6]
    assert [a.node for a in newcomers] == [6, 7]
    for child in newcomers:
        assert child.community == 1
        assert set(s.graph.neighbors(child.node)) <= {3, 4, 5, 6, 7}
        assert child.utterances
        # A blank model knows only what it heard: its neighbours' speech is far more
        # likely under it than real text is.
        said = [u for n in s.graph.neighbors(child.node) for u in by_node(s, n).utterances]
        own = perplexity(*child.lm.score(said))
        real = perplexity(*child.lm.score(s.heldout))
        assert own * 2 < real
        assert sum(map(len, child.buffer)) <= 30  # what it kept, no real training text


def test_remove_agents_takes_node_edges_and_voice(base, grammar_600):
    s = society(base, grammar_600, [{"round": 1, "action": "remove_agents", "nodes": [1, 4]}])
    s.step()
    assert len(s.agents) == 4
    assert 1 not in s.graph and 4 not in s.graph
    for agent in s.agents:
        assert not heard_from(agent, s) & {1, 4}
    s.step()  # the society goes on
    assert s.round_table is not None


def test_remove_by_share_from_a_community(base, grammar_600):
    s = society(
        base, grammar_600, [{"round": 1, "action": "remove_agents", "share": 0.67, "community": 0}]
    )
    s.step()
    assert sorted(a.community for a in s.agents) == [0, 1, 1, 1]


def test_unknown_node_is_an_event_error(base, grammar_600):
    s = society(base, grammar_600, [{"round": 1, "action": "remove_agents", "nodes": [42]}])
    with pytest.raises(EventError, match="no agent on node 42"):
        s.step()


def test_committed_agents_keep_speaking_but_stop_learning(base, grammar_600):
    s = society(base, grammar_600, [{"round": 1, "action": "commit", "nodes": [0]}])
    frozen = by_node(s, 0).lm.state()
    other = by_node(s, 1).lm.state()
    for _ in range(3):
        s.step()
    committed, learner = by_node(s, 0), by_node(s, 1)
    assert not committed.learning and learner.learning
    assert committed.utterances
    np.testing.assert_array_equal(committed.lm.state()["counts"], frozen["counts"])
    assert not np.array_equal(learner.lm.state()["counts"], other["counts"])


def test_committed_dialect_spreads_to_learners(base, grammar_600):
    events = [{"round": 1, "action": "commit", "nodes": [0, 1], "rewrite": {"man": "bloke"}}]
    s = society(base, grammar_600, events)
    s.step()
    said = " ".join(u for a in s.agents if a.node in (0, 1) for u in a.utterances).split()
    assert "bloke" in said and "man" not in said
    for _ in range(2):
        s.step()
    learners = " ".join(u for a in s.agents if a.node == 2 for u in a.utterances).split()
    assert "bloke" in learners


def test_rewrite_words_whole_words_keep_capitals():
    texts = ["The man and the Man saw a manly man.", "no match"]
    assert rewrite_words(texts, {"man": "bloke"}) == [
        "The bloke and the Bloke saw a manly bloke.",
        "no match",
    ]
    assert rewrite_words(texts, {}) == texts


def test_agent_choice_needs_exactly_one_way(base):
    with pytest.raises(ConfigError, match="exactly one of nodes, count or share"):
        base.with_overrides(
            {"events": [{"round": 1, "action": "commit", "nodes": [0], "count": 1}]}
        )


def test_event_errors_reach_the_user_as_one_line_naming_the_file(base, tmp_path):
    """Preflight finds the missing node before round 1: one line, nothing written."""
    bad = base.with_overrides(
        {"rounds": 1, "events": [{"round": 1, "action": "remove_agents", "nodes": [99]}]}
    )
    with pytest.raises(ConfigError, match=r"^scn.toml: events.0.nodes: no agent on node 99$"):
        run_scenario(bad, tmp_path / "run", origin="scn.toml")
    assert not (tmp_path / "run").exists()
