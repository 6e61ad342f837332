"""Per-community real-data sources: each listed community starts from its own corpus."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from society.app.cli import app
from society.config import AddAgents, ConfigError, Scenario, load_scenario
from society.corpora import Corpus, load_corpus
from society.lm.ancestor_cache import build_ancestor
from society.lm.base import perplexity
from society.lm.tokenizer import SharedTokenizer
from society.run.runner import run_scenario
from society.sim import events as events_module
from society.sim.model import Society
from tests.cheap_metrics import cheap_metrics

runner = CliRunner()
FAST = [
    "--set", "rounds=1",
    "--set", "speech.utterances=5",
    "--set", "real_data.max_texts=200",
    "--set", "tokenizer.vocab_size=300",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    """Two cliques of three: community 0 on KJV, community 1 on the synthetic grammar."""
    overrides = {
        "rounds": 1,
        "network.kind": "caveman",
        "network.communities": 2,
        "network.size": 3,
        "real_data.source": "kjv",
        "real_data.max_texts": 200,
        "real_data.communities": {"1": "grammar"},
        "language_model.discount": 0.1,
        "speech.utterances": 10,
        "speech.max_tokens": 15,
        "tokenizer.vocab_size": 300,
        "metrics.heldout_texts": 20,
        **cheap_metrics(),
    }
    return Scenario().with_overrides(overrides)


@pytest.fixture(scope="module")
def society(tiny) -> Society:
    return Society(tiny)


@pytest.fixture(scope="module")
def corpora() -> dict[int, Corpus]:
    """Each community's corpus, loaded independently of the society (the same split)."""
    return {0: load_corpus("kjv", max_texts=200), 1: load_corpus("grammar", max_texts=200)}


def fitted(society: Society, texts: list[str]):
    """An ancestor trained on ``texts`` with the society's model keys and tokenizer."""
    return build_ancestor(society.scenario.language_model, society.tokenizer, texts)


def ppl(lm, texts) -> float:
    return perplexity(*lm.score(texts))


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text('name = "t"\nrounds = 1\n' + body)
    return path


def test_table_parses_int_labels_and_resolves_paths(tmp_path):
    path = write(tmp_path, '[real_data.communities]\n1 = "data/other.txt"\n"2" = "grammar"\n')
    scenario = load_scenario(path, ["real_data.communities.3=kjv"])
    assert scenario.real_data.communities == {
        1: str(tmp_path / "data" / "other.txt"),
        2: "grammar",
        3: "kjv",
    }
    again = Scenario.model_validate(json.loads(json.dumps(scenario.model_dump(mode="json"))))
    assert again.real_data.communities == scenario.real_data.communities


def test_a_label_that_is_not_an_integer_is_a_config_error(tmp_path):
    path = write(tmp_path, '[real_data.communities]\nnorth = "grammar"\n')
    with pytest.raises(ConfigError, match=r"real_data\.communities: community label 'north'"):
        load_scenario(path)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"error: {path}: real_data.communities" in result.stderr


def test_a_source_that_does_not_load_is_one_line_exit_2_and_no_run(tmp_path):
    path = write(tmp_path, '[real_data.communities]\n1 = "missing.txt"\n')
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), *FAST])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: real_data.communities.1: ")
    assert "missing.txt" in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_each_community_starts_from_its_own_ancestor_and_data(society, corpora):
    assert society.corpus_for(0).train == corpora[0].train == society.corpus.train
    assert society.corpus_for(1).train == corpora[1].train
    assert society.corpus_for(7) is society.corpus  # unlisted: the main source
    assert society.ancestor_for(7) is society.ancestor
    truth = {c: fitted(society, corpora[c].train) for c in (0, 1)}
    probe = corpora[0].heldout + corpora[1].heldout
    for community, model in society.ancestors.items():
        np.testing.assert_allclose(model.score(probe)[0], truth[community].score(probe)[0])
    for agent in society.agents:
        own, other = corpora[agent.community], corpora[1 - agent.community]
        assert agent.buffer[0] == own.train
        assert ppl(agent.lm, own.heldout) < ppl(agent.lm, other.heldout)
        np.testing.assert_allclose(agent.lm.score(probe)[0], truth[agent.community].score(probe)[0])


def test_the_tokenizer_learns_every_communitys_text(society, corpora):
    grammar, config = corpora[1], society.scenario.tokenizer
    main_only = SharedTokenizer.train(society.corpus.train, config.vocab_size, config.min_frequency)

    def tokens(tokenizer) -> int:
        return sum(len(ids) for ids in tokenizer.encode_batch(grammar.heldout))

    assert tokens(society.tokenizer) < tokens(main_only)


def test_real_texts_and_prompts_come_from_the_communitys_own_corpus(society, corpora):
    kjv, grammar = set(corpora[0].train), set(corpora[1].train)
    assert set(society.real_texts(50, community=1)) <= grammar
    assert set(society.real_texts(50, community=0)) <= kjv
    assert set(society.real_texts(50)) <= kjv
    heads = {" ".join(t.split()[: society.scenario.speech.prefix_tokens]) for t in grammar}
    assert set(society.real_prompts(20, community=1)) <= heads


def test_listeners_mix_in_real_text_from_their_own_corpus(tiny, corpora):
    society = Society(tiny, real_data_fraction=0.5)
    society.step()
    for agent in society.agents:
        real = [t for (s, _), t in zip(agent.heard, agent.heard_texts, strict=True) if s < 0]
        assert real and set(real) <= set(corpora[agent.community].train)


def test_init_ancestor_retrains_from_the_own_communitys_ancestor(tiny, corpora):
    # memory > 0: an n-gram update keeps half of the starting counts, so the start matters
    society = Society(tiny, learning_init="ancestor", language_model_memory=0.5)
    society.step()
    probe = corpora[0].heldout + corpora[1].heldout
    for agent in society.agents:
        data = [text for texts in agent.buffer for text in texts]
        expected = fitted(society, corpora[agent.community].train)
        expected.update(data)
        wrong = fitted(society, corpora[1 - agent.community].train)
        wrong.update(data)
        got = agent.lm.score(probe)[0]
        np.testing.assert_allclose(got, expected.score(probe)[0])
        assert not np.allclose(got, wrong.score(probe)[0])


def test_an_ancestor_newcomer_takes_the_ancestor_of_the_community_it_joins(
    tiny, corpora, monkeypatch
):
    society = Society(tiny)
    made = []
    real_speaker = events_module.Speaker
    grammar = corpora[1]

    def spy(model, cell, lm, community, data):
        made.append((ppl(lm, grammar.heldout), community, data))
        return real_speaker(model, cell, lm, community, data)

    monkeypatch.setattr(events_module, "Speaker", spy)
    event = AddAgents(round=1, action="add_agents", community=1, init="ancestor")
    events_module.add_agents(society, event)
    ((score, community, data),) = made
    assert community == 1 and data == grammar.train
    assert score == pytest.approx(ppl(fitted(society, grammar.train), grammar.heldout))


def test_a_table_that_repeats_the_main_source_changes_nothing(tiny):
    plain = tiny.with_overrides({"real_data.communities": {}})
    same = tiny.with_overrides({"real_data.communities": {"1": "kjv"}})
    a, b = Society(plain), Society(same)
    assert a.ancestors == {0: a.ancestor, 1: a.ancestor}
    assert b.sources.by_community == {}
    for model in (a, b):
        model.step()
    pd.testing.assert_frame_equal(a.round_table(), b.round_table())
    pd.testing.assert_frame_equal(a.agent_table(), b.agent_table())


def test_the_run_manifest_records_each_communitys_source(tiny, tmp_path):
    out = run_scenario(tiny.with_overrides({"rounds": 0}), tmp_path / "run")
    recorded = json.loads((out / "manifest.json").read_text())["real_data"]
    assert recorded["default"]["corpus"] == "kjv"
    assert recorded["1"]["source"] == "grammar" and recorded["1"]["corpus"] == "grammar"
    assert recorded["1"]["train"] + recorded["1"]["heldout"] == 200


def test_transformer_communities_get_different_ancestors(tiny):
    neural = tiny.with_overrides(
        {
            "rounds": 0,
            "network.communities": 2,
            "speech.utterances": 2,
            "language_model": {  # the whole table: tiny's n-gram discount does not carry over
                "kind": "transformer",
                "layers": 1,
                "width": 16,
                "heads": 2,
                "context": 16,
                "ancestor_epochs": 1.0,
                "threads": 1,
            },
        }
    )
    society = Society(neural)
    main, other = society.ancestors[0].state(), society.ancestors[1].state()
    assert main.keys() == other.keys()
    assert any(not np.array_equal(main[k], other[k]) for k in main)
    for agent in society.agents:
        own = society.ancestors[agent.community].state()
        assert all(np.array_equal(own[k], v) for k, v in agent.lm.state().items())
