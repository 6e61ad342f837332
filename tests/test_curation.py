"""Remedies: mixing schedules, dedup/length, critic, verifier, human labels, and their effects."""

import json

import numpy as np
import pytest

from society.config import ConfigError, CurationConfig, Scenario, schedule_value
from society.corpora import load_corpus
from society.run.runner import build_society
from society.sim.curation import LabelsError, curate, load_labels, parse_label, text_perplexities
from society.sim.model import Society
from tests.cheap_metrics import cheap_metrics


@pytest.fixture(scope="module")
def grammar():
    return load_corpus("grammar", max_texts=800)


@pytest.fixture(scope="module")
def base() -> Scenario:
    overrides = {
        "rounds": 3,
        "network.kind": "complete",
        "network.agents": 4,
        "real_data.source": "grammar",
        "real_data.max_texts": 800,
        "language_model.discount": 0.1,
        "speech.utterances": 60,
        "speech.max_tokens": 20,
        "listening.texts": 120,
        "tokenizer.vocab_size": 400,
        "metrics.heldout_texts": 30,
        "metrics.every": 100,
        **cheap_metrics(),
    }
    return Scenario().with_overrides(overrides)


def run(society: Society, rounds: int) -> Society:
    for _ in range(rounds):
        society.step()
    return society


def speech(society: Society) -> list[str]:
    return [u for a in society.agents for u in a.utterances]


def test_curate_length_and_dedup():
    texts = ["a b c", "a", "a b c", "a b c d e f"]
    keep = curate(texts, CurationConfig(min_words=2, max_words=5, dedup=True))
    assert keep.tolist() == [True, False, False, False]
    assert curate(texts, CurationConfig()).all()


def test_schedule_values():
    points = [(2, 0.4), (6, 0.0)]
    assert [schedule_value(points, r, 0.1) for r in (0, 1, 2, 5, 6, 9)] == [
        0.1, 0.1, 0.4, 0.4, 0.0, 0.0,
    ]  # fmt: skip
    assert schedule_value(points, 4, 0.1, "linear") == pytest.approx(0.2)
    assert schedule_value([], 4, 0.3) == 0.3


def test_schedule_must_increase(base):
    with pytest.raises(ConfigError, match="real_data.*increasing"):
        base.with_overrides({"real_data.schedule": [[3, 0.1], [2, 0.2]]})
    with pytest.raises(ConfigError, match="out of range"):
        base.with_overrides({"real_data.schedule": [[1, 1.5]]})


def test_mixing_schedule_sets_the_real_share_each_round(base, grammar):
    s = Society(base, corpus=grammar, real_data_schedule=[[2, 0.5], [3, 0.0]])
    real = []
    for _ in range(3):
        s.step()
        real.append({sum(src == -1 for src, _ in a.heard) for a in s.agents})
    assert real == [{0}, {60}, {0}]


def test_critic_keeps_the_best_share(base, grammar):
    s = Society(base, corpus=grammar, curation_critic="real", curation_keep_best=0.25)
    s.step()
    critic = s.curator.critic("real")
    for agent in s.agents:
        assert len(agent.kept) == 30
        kept = set(agent.kept)
        dropped = [t for t in agent.heard_texts if t not in kept]
        assert max(text_perplexities(critic, agent.kept)) <= min(text_perplexities(critic, dropped))


def test_critic_threshold_keeps_only_plausible_text(base, grammar):
    s = Society(base, corpus=grammar)
    threshold = float(np.median(text_perplexities(s.ancestor, speech(s))))
    s.scenario = s.scenario.with_overrides(
        {"curation.critic": "ancestor", "curation.max_perplexity": threshold}
    )
    s.step()
    for agent in s.agents:
        assert 0.25 < len(agent.kept) / len(agent.heard_texts) < 0.75
        assert (text_perplexities(s.ancestor, agent.kept) <= threshold).all()


def test_critic_filter_trades_diversity_for_plausibility(base, grammar):
    plain = run(Society(base, corpus=grammar), 3)
    filtered = run(Society(base, corpus=grammar, curation_critic="real", curation_keep_best=0.4), 3)
    critic = filtered.curator.critic("real")
    ppl_plain = np.median(text_perplexities(critic, speech(plain)))
    ppl_filtered = np.median(text_perplexities(critic, speech(filtered)))
    assert ppl_filtered < 0.8 * ppl_plain

    def distinct(texts):
        words = " ".join(texts).split()
        bigrams = list(zip(words, words[1:], strict=False))
        return len(set(bigrams)) / len(bigrams)

    assert distinct(speech(filtered)) < distinct(speech(plain))


def test_self_critic_uses_the_listeners_own_model(base, grammar):
    s = Society(base, corpus=grammar, curation_critic="self", curation_keep_best=0.5)
    s.step()
    agent = next(iter(s.agents))
    # The listener has just learned from what it kept; before learning it used its old model,
    # which here is still the ancestor for everyone, so the kept half is the ancestor's best.
    kept = text_perplexities(s.ancestor, agent.kept)
    dropped = text_perplexities(s.ancestor, [t for t in agent.heard_texts if t not in agent.kept])
    assert kept.max() <= dropped.min()


@pytest.mark.parametrize("accuracy", [1.0, 0.0])
def test_verifier_is_exact_on_the_grammar(base, grammar, accuracy):
    s = Society(base, corpus=grammar, curation_verifier_accuracy=accuracy)
    s.step()
    g = grammar.grammar
    for agent in s.agents:
        kept = set(agent.kept)
        for text in agent.heard_texts:
            assert (text in kept) == (g.is_grammatical(text) == (accuracy == 1.0))


def test_noisy_verifier_is_right_at_its_accuracy(base, grammar):
    s = Society(base, corpus=grammar, curation_verifier_accuracy=0.8, speech_utterances=200)
    s.step()
    g = grammar.grammar
    right = []
    for agent in s.agents:
        kept = set(agent.kept)
        right += [(t in kept) == g.is_grammatical(t) for t in agent.heard_texts]
    # 480 verdicts: the binomial standard error is under 0.02
    assert 0.72 < np.mean(right) < 0.88


def test_verifier_keeps_the_society_grammatical(base, grammar):
    plain = run(Society(base, corpus=grammar), 3)
    verified = run(Society(base, corpus=grammar, curation_verifier_accuracy=0.9), 3)
    g = grammar.grammar
    assert g.grammatical_share(speech(verified)) > g.grammatical_share(speech(plain)) + 0.2


def test_verifier_on_a_real_corpus_judges_by_the_critic(base, corpus_file):
    s = Society(
        base,
        real_data_source=str(corpus_file),
        real_data_max_texts=None,
        curation_verifier_accuracy=1.0,
        curation_verifier_quantile=0.5,
    )
    real = text_perplexities(s.ancestor, s.heldout)
    assert s.curator.acceptable(s.heldout).mean() == pytest.approx(0.5, abs=0.15)
    s.step()
    threshold = np.quantile(real, 0.5)
    for agent in s.agents:
        assert (text_perplexities(s.ancestor, agent.kept) <= threshold).all()


def test_parse_label():
    assert [parse_label(v) for v in ("1", "yes", "Keep", "0", "bad", "", None, 1.0)] == [
        True, True, True, False, False, None, None, True,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="maybe"):
        parse_label("maybe")


def test_load_labels_csv_and_jsonl(tmp_path):
    csv = tmp_path / "l.csv"
    csv.write_text('round,agent,text,label\n1,2,"the man , sleeps .",no\n1,3,a dog .,yes\n1,4,x,\n')
    assert load_labels(csv) == {"the man , sleeps .": False, "a dog .": True}
    jsonl = tmp_path / "l.jsonl"
    jsonl.write_text(
        json.dumps({"text": "a", "label": 1}) + "\n" + json.dumps({"text": "b", "label": 0})
    )
    assert load_labels(jsonl) == {"a": True, "b": False}


def test_bad_labels_name_the_file_and_row(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\na,yes\nb,perhaps\n")
    with pytest.raises(LabelsError, match="bad.csv: row 2"):
        load_labels(bad)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("text,verdict\na,yes\n")
    with pytest.raises(LabelsError, match="columns text and label"):
        load_labels(nocol)


def test_labels_errors_reach_the_user_as_one_line(base, grammar, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\na,perhaps\n")
    with pytest.raises(ConfigError, match=r"^scn.toml: curation.labels: .*row 1"):
        build_society(base.with_overrides({"curation.labels": str(bad)}), origin="scn.toml")
    with pytest.raises(ConfigError, match="labels file not found"):
        base.with_overrides({"curation.labels": str(tmp_path / "missing.csv")})


def test_human_labels_filter_what_listeners_keep(base, grammar, tmp_path):
    # Label every round-0 utterance: those with "man" bad, the rest good.
    probe = Society(base, corpus=grammar)
    said = speech(probe)
    rows = ["text,label"] + [
        '"{}",{}'.format(t.replace('"', '""'), "no" if "man" in t.split() else "yes") for t in said
    ]
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    s = Society(base, corpus=grammar, curation_labels=str(labels), curation_unlabelled="drop")
    assert speech(s) == said  # same seed, same round-0 speech
    s.step()
    for agent in s.agents:
        assert agent.kept
        assert not any("man" in t.split() for t in agent.kept)
    before = sum(t.split().count("man") for t in said)
    after = sum(t.split().count("man") for t in speech(s))
    assert before > 20 and after < before / 5


def test_critic_filters_need_a_critic(base):
    with pytest.raises(ConfigError, match="curation: .*need critic"):
        base.with_overrides({"curation.keep_best": 0.5})
    assert base.with_overrides({"curation.critic": "self", "curation.keep_best": 0.5})
