"""Speaker: an agent's phases in a small hand-made world, and the World it reads."""

import ast
from pathlib import Path

import mesa
import networkx as nx
import numpy as np
import pytest
from mesa.discrete_space import Network

from society.config import Scenario
from society.lm.ngram import NGramLM
from society.lm.tokenizer import SharedTokenizer
from society.sim import agents
from society.sim.agents import Speaker
from society.sim.curation import Critics, Curator
from society.sim.model import Society
from society.sim.world import World
from tests.cheap_metrics import cheap_metrics

SIM = Path(agents.__file__).parent
REAL = ["the man sleeps .", "a dog runs .", "my old dog sleeps .", "the man sees a dog ."] * 3


class Tiny(mesa.Model):
    """A World that is not a Society: a graph, a scenario, a few real texts."""

    def __init__(self, graph: nx.Graph, scenario: Scenario) -> None:
        super().__init__(seed=0)
        self.scenario = scenario
        self.graph = graph
        self.space = Network(graph, random=self.random)
        self.tokenizer = SharedTokenizer.train(REAL, 300, 1)
        self.ancestor = NGramLM(self.tokenizer, order=2)
        self.ancestor.fit(REAL)

    @property
    def round(self) -> int:
        return self.steps

    def real_texts(self, n: int, *, community: int | None = None) -> list[str]:
        return [REAL[int(i)] for i in self.rng.choice(len(REAL), size=n, replace=False)]

    def real_prompts(self, n: int, *, community: int | None = None) -> list[str]:
        return [t.split()[0] for t in self.real_texts(n, community=community)]

    def ancestor_for(self, community: int | None) -> NGramLM:
        return self.ancestor

    def model_label_for(self, community: int | None) -> str:
        return "ngram2"


def tiny(**overrides) -> tuple[Tiny, dict[int, Speaker]]:
    """Node 0 hears node 1 (weight 3) and node 2 (weight 1); each has said 10 texts."""
    graph = nx.Graph([(0, 1, {"weight": 3.0}), (0, 2, {"weight": 1.0})])
    world = Tiny(graph, Scenario().with_overrides(overrides))
    by_node = {n: Speaker(world, world.space[n], world.ancestor.clone(), 0, REAL) for n in graph}
    for node, agent in by_node.items():
        agent.utterances = [f"node {node} says {i} ." for i in range(10)]
    return world, by_node


def test_listen_draws_neighbours_by_weight_and_real_text():
    world, by_node = tiny(**{"listening.texts": 8, "real_data.fraction": 0.25})
    listener, one, two = by_node[0], by_node[1], by_node[2]
    listener.listen({})
    assert len(listener.heard) == 8
    real = [t for (s, _), t in zip(listener.heard, listener.heard_texts, strict=True) if s == -1]
    assert len(real) == 2 and set(real) <= set(REAL)
    speakers = {one.unique_id: one, two.unique_id: two}
    for (source, index), text in zip(listener.heard[:6], listener.heard_texts[:6], strict=True):
        assert text == speakers[source].utterances[index]
    # 6 of 20 texts drawn without replacement, 3:1 by weight: node 1's share is 0.72 on
    # average (0.5 unweighted); over 200 listens its standard error is 0.012
    counts = []
    for _ in range(200):
        listener.listen({})
        counts.append(sum(s == one.unique_id for s, _ in listener.heard))
    assert np.mean(counts) / 6 == pytest.approx(0.72, abs=0.04)


def test_listen_follows_the_selection_factors():
    world, by_node = tiny(**{"listening.texts": 8})
    listener, two = by_node[0], by_node[2]
    listener.listen({two.unique_id: 0.0})  # node 2 silenced by selection
    assert len(listener.heard) == 8
    assert two.unique_id not in {s for s, _ in listener.heard}
    listener.listen({by_node[1].unique_id: 0.0, two.unique_id: 0.0})
    assert listener.heard == []  # nobody left to hear


def test_curate_keeps_what_the_curator_passes_and_says_whose():
    world, by_node = tiny(**{"curation.dedup": True})
    listener = by_node[0]
    listener.heard = [(7, 0), (8, 3), (7, 1), (-1, 0)]
    listener.heard_texts = ["a dog runs .", "the cat .", "a dog runs .", "the man sleeps ."]
    curator = Curator(Critics(world.ancestor, world.tokenizer, REAL), REAL, None, world.rng)
    assert listener.curate(curator).tolist() == [True, True, False, True]
    assert listener.kept == ["a dog runs .", "the cat .", "the man sleeps ."]
    assert listener.kept_from == [7, 8, -1]
    world.scenario = world.scenario.with_overrides({"curation.min_words": 4})  # read live
    assert listener.curate(curator).tolist() == [True, False, False, True]
    assert listener.kept_from == [7, -1]


@pytest.mark.parametrize("init", ["continue", "ancestor"])
def test_learn_updates_the_buffer_and_the_model(init):
    world, by_node = tiny(
        **{"learning.data": "window", "learning.window": 2, "learning.init": init}
    )
    agent = by_node[0]
    agent.kept = ["the dog sleeps ."] * 5
    agent.learn()
    agent.kept = ["a man runs ."] * 5
    agent.learn()
    assert list(agent.buffer) == [["the dog sleeps ."] * 5, ["a man runs ."] * 5]
    expected = world.ancestor.clone()
    if init == "continue":
        expected.update(REAL + ["the dog sleeps ."] * 5)
    expected.update(["the dog sleeps ."] * 5 + ["a man runs ."] * 5)
    np.testing.assert_allclose(agent.lm.score(REAL)[0], expected.score(REAL)[0])
    agent.learning, before = False, agent.lm.score(REAL)[0]
    agent.learn()
    np.testing.assert_array_equal(agent.lm.score(REAL)[0], before)


def test_say_adds_token_noise_only_when_asked():
    world, by_node = tiny()
    agent = by_node[0]
    agent.say(["the man sleeps ."])  # no noise: the world needs no noise vocabulary
    assert agent.utterances == ["the man sleeps ."]
    world.scenario = world.scenario.with_overrides({"mutation.token_noise": 1.0})
    world.noise_vocabulary = world.tokenizer.encode_batch(["z"])[0][-1:]
    agent.say(["the man sleeps ."])
    assert set(agent.utterances[0]) == {"z"}


def world_members() -> set[str]:
    return set(World.__annotations__) | {n for n in vars(World) if not n.startswith("_")}


def test_the_society_is_a_world(grammar_600):
    overrides = {"network.kind": "complete", "network.agents": 2, "speech.utterances": 2}
    society = Society(Scenario().with_overrides(overrides | cheap_metrics()), corpus=grammar_600)
    assert {"scenario", "round", "real_texts", "noise_vocabulary"} <= world_members()
    assert [name for name in sorted(world_members()) if not hasattr(society, name)] == []


def attributes_read_on_the_model(source: str) -> set[str]:
    """Names read as ``self.model.NAME`` or ``model.NAME`` in ``source``."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            value = node.value
            if isinstance(value, ast.Name) and value.id == "model":
                names.add(node.attr)
            if isinstance(value, ast.Attribute) and value.attr == "model":
                names.add(node.attr)
    return names


def test_agents_read_the_society_only_through_world():
    read = attributes_read_on_the_model((SIM / "agents.py").read_text())
    assert {"scenario", "rng", "graph"} <= read
    assert read <= world_members(), sorted(read - world_members())


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at run time or for type checking."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


@pytest.mark.parametrize("stage", ["agents", "curation", "selection", "mutation", "world"])
def test_stages_do_not_import_the_society(stage):
    modules = imported(SIM / f"{stage}.py")
    assert "society.sim.model" not in modules
    if stage != "agents":
        assert "society.sim.agents" not in modules
