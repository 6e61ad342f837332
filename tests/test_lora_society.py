"""A society of LoRA agents: one base, each round one training and one sampling pass."""

from __future__ import annotations

import pytest

from society.config import Scenario
from society.lm import lora_population
from society.lm.lora_population import LoRAAgent
from society.lm.tokenizer import SharedTokenizer
from society.sim.model import Society
from tests.cheap_metrics import cheap_metrics
from tests.tiny_checkpoints import save_tiny_gpt2

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def base(tmp_path_factory, grammar_600):
    """A tiny GPT-2 checkpoint with a tokenizer of the grammar corpus, saved locally."""
    tokenizer = SharedTokenizer.train(grammar_600.train, 200, 2)
    return str(save_tiny_gpt2(tmp_path_factory.mktemp("base"), tokenizer))


def test_a_lora_society_trains_and_speaks_in_one_pass_per_round(base, grammar_600, monkeypatch):
    passes = {"train": 0, "sample": 0}
    train, sample = lora_population.train_adapters, lora_population.LoRAPopulation._sample_chunk

    def counted_train(*args, **kwargs):
        passes["train"] += 1
        return train(*args, **kwargs)

    def counted_sample(self, jobs):
        passes["sample"] += 1
        return sample(self, jobs)

    monkeypatch.setattr(lora_population, "train_adapters", counted_train)
    monkeypatch.setattr(lora_population.LoRAPopulation, "_sample_chunk", counted_sample)
    overrides = {
        "rounds": 2,
        "network.kind": "complete",
        "network.agents": 4,
        "speech.utterances": 6,
        "speech.max_tokens": 8,
        "listening.texts": 6,
        "language_model": {
            "kind": "transformer",
            "path": base,
            "lora": True,
            "lora_rank": 2,
            "context": 32,
            "ancestor_epochs": 1,
            "epochs": 1,
            "batch_size": 4,
            "device": "cpu",
        },
    }
    society = Society(Scenario().with_overrides(overrides | cheap_metrics()), corpus=grammar_600)
    agents = list(society.agents)
    assert all(isinstance(a.lm, LoRAAgent) for a in agents)
    assert len({id(a.lm.population) for a in agents}) == 1
    passes.update(train=0, sample=0)
    for _ in range(2):
        society.step()
    assert passes == {"train": 2, "sample": 2}  # 4 agents, same plan: one pass each way
    states = [a.lm.state() for a in agents]
    first = next(iter(states[0]))
    assert len({states[i][first].tobytes() for i in range(4)}) == 4  # each its own adapter
    table = society.round_table()
    assert table["round"].tolist() == [0, 1, 2]
