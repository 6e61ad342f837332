"""Equal data budgets: ``learning.ancestor_texts`` sets what generation 0 learns from."""

import pytest

from society.config import ConfigError, Scenario
from society.sim.data_budget import ancestor_budget, generation_zero_texts
from society.sim.model import Society


def test_budget_follows_the_setting():
    base = Scenario().with_overrides({"speech.utterances": 30})
    assert ancestor_budget(base) is None
    generation = base.with_overrides({"learning.ancestor_texts": "generation"})
    assert ancestor_budget(generation) == 30
    listening = generation.with_overrides({"listening.texts": 75})
    assert ancestor_budget(listening) == 75
    assert ancestor_budget(base.with_overrides({"learning.ancestor_texts": 12})) == 12


def test_bad_budget_is_a_config_error():
    with pytest.raises(ConfigError, match="learning.ancestor_texts"):
        Scenario().with_overrides({"learning.ancestor_texts": "some"})
    with pytest.raises(ConfigError, match="learning.ancestor_texts"):
        Scenario().with_overrides({"learning.ancestor_texts": 0})


def test_choice_is_seeded_sized_and_in_corpus_order():
    train = [f"text {i}" for i in range(100)]
    chosen = generation_zero_texts(train, 10, seed=3)
    assert len(chosen) == len(set(chosen)) == 10
    assert chosen == sorted(chosen, key=train.index)
    assert chosen == generation_zero_texts(train, 10, seed=3)
    assert chosen != generation_zero_texts(train, 10, seed=4)
    assert generation_zero_texts(train, None, seed=3) is train
    assert generation_zero_texts(train, 500, seed=3) is train


def test_generation_budget_reaches_the_agents_without_moving_the_stream(small):
    budgeted = small.with_overrides({"learning.ancestor_texts": "generation"})
    full, equal = Society(small, seed=5), Society(budgeted, seed=5)
    sizes = {len(agent.buffer[0]) for agent in equal.agents}
    assert sizes == {small.speech.utterances}
    assert set(equal.agents[0].buffer[0]) <= set(equal.corpus.train)
    assert {len(agent.buffer[0]) for agent in full.agents} == {len(full.corpus.train)}
    # the choice has a generator of its own: the society's stream is where it was
    assert full.rng.bit_generator.state == equal.rng.bit_generator.state
    assert sorted(full.graph.edges) == sorted(equal.graph.edges)
