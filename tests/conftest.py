from pathlib import Path

import pandas as pd
import pytest

from society.config import Scenario
from society.corpora import Corpus, load_corpus
from society.sim.model import Society

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _private_model_cache(tmp_path_factory):
    """Trained ancestors go to a per-session directory, never to the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOCIETY_CACHE", str(tmp_path_factory.mktemp("society-cache")))
        yield


@pytest.fixture
def small() -> Scenario:
    """A fast scenario: 6 agents in two cliques, short speech, the KJV corpus capped."""
    return Scenario().with_overrides(
        {
            "rounds": 3,
            "network.kind": "caveman",
            "network.communities": 2,
            "network.size": 3,
            "speech.utterances": 30,
            "speech.max_tokens": 25,
            "real_data.max_texts": 1500,
            "tokenizer.vocab_size": 800,
            "metrics.heldout_texts": 50,
        }
    )


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    """A small plain-text corpus that is not the bundled one."""
    lines = []
    animals = ["fox", "hen", "owl", "cat", "dog", "yak", "eel", "bee"]
    verbs = ["sees", "chases", "follows", "greets", "ignores", "likes"]
    for i in range(400):
        a, b = animals[i % 8], animals[(i * 3 + 1) % 8]
        lines.append(f"The {a} {verbs[i % 6]} the {b} near the river number {i % 17}.")
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(lines))
    return path


@pytest.fixture(scope="session")
def grammar_600() -> Corpus:
    """600 sentences of the synthetic grammar, loaded once per test session."""
    return load_corpus("grammar", max_texts=600)


def round_tables(scenario: Scenario, seeds: tuple[int, ...], **params) -> dict[int, pd.DataFrame]:
    """Run ``scenario`` once per seed (with flat overrides) and return each round table."""
    out = {}
    for seed in seeds:
        society = Society(scenario, seed=seed, **params)
        for _ in range(society.rounds):
            society.step()
        out[seed] = society.round_table()
    return out
