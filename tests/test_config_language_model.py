"""The ``[language_model]`` table: a union keyed on ``kind``."""

import tomllib
from pathlib import Path

import pytest

from society.config import (
    ConfigError,
    NGramConfig,
    Scenario,
    TransformerConfig,
    load_scenario,
    validate_scenario,
)
from society.config.language_model import explicit_keys


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_scenario(path, overrides)
    return str(info.value)


def test_a_table_without_kind_is_an_ngram(tmp_path):
    assert isinstance(Scenario().language_model, NGramConfig)
    scenario = load_scenario(write(tmp_path, "[language_model]\norder = 2\n"))
    assert isinstance(scenario.language_model, NGramConfig)
    assert (scenario.language_model.kind, scenario.language_model.order) == ("ngram", 2)
    neural = load_scenario(write(tmp_path, '[language_model]\nkind = "transformer"\nlayers = 2\n'))
    assert isinstance(neural.language_model, TransformerConfig)
    assert neural.language_model.layers == 2


def test_each_kind_has_only_its_own_keys():
    ngram, neural = set(NGramConfig.model_fields), set(TransformerConfig.model_fields)
    assert ngram & neural == {"kind", "communities"}  # communities: a mixed population
    assert {"order", "discount", "memory"} <= ngram
    assert {"layers", "path", "lora_rank", "device", "precision"} <= neural


def test_a_key_of_the_other_kind_is_an_unknown_key(tmp_path):
    path = write(tmp_path, "[language_model]\nlayers = 2\n")
    assert load_error(path) == f"{path}: language_model.layers: unknown key"
    path = write(tmp_path, '[language_model]\nkind = "transformer"\norder = 3\n')
    assert load_error(path) == f"{path}: language_model.order: unknown key"
    path = write(tmp_path, '[language_model]\nkind = "gpt"\n')
    assert (
        load_error(path) == f"{path}: language_model.kind: Input should be 'ngram' or 'transformer'"
    )


def test_each_kind_keeps_its_own_checks(tmp_path):
    path = write(tmp_path, '[language_model]\nkind = "transformer"\nwidth = 30\n')
    assert load_error(path) == f"{path}: language_model: width: 30 is not a multiple of heads (4)"
    path = write(tmp_path, "[language_model]\norder = 9\n")
    assert load_error(path).startswith(f"{path}: language_model.order: Input should be less")


def test_set_switches_the_kind_of_a_file(tmp_path):
    path = write(tmp_path, '[language_model]\nkind = "ngram"\n')
    scenario = load_scenario(path, ["language_model.kind=transformer", "language_model.layers=2"])
    assert isinstance(scenario.language_model, TransformerConfig)
    assert scenario.language_model.layers == 2
    explicit = write(tmp_path, "[language_model]\norder = 3\n", "o.toml")
    assert load_error(explicit, ["language_model.kind=transformer"]) == (
        f"{explicit}: language_model.order: unknown key"
    )


def test_with_overrides_drops_the_old_kinds_defaults_only():
    neural = Scenario().with_overrides({"language_model.kind": "transformer"})
    assert neural.language_model == TransformerConfig()
    back = neural.with_overrides({"language_model.kind": "ngram", "language_model.order": 2})
    assert back.language_model == NGramConfig(order=2)
    chosen = Scenario().with_overrides({"language_model.discount": 0.1})
    with pytest.raises(ConfigError, match=r"^<overrides>: language_model.discount: unknown key$"):
        chosen.with_overrides({"language_model.kind": "transformer"})
    whole_table = chosen.with_overrides({"language_model": {"kind": "transformer", "layers": 1}})
    assert whole_table.language_model == TransformerConfig(layers=1)


def test_with_overrides_keeps_a_kind_it_does_not_switch():
    for config in (NGramConfig(order=2, memory=0.5), TransformerConfig(layers=2, steps=3)):
        scenario = Scenario(language_model=config)
        again = scenario.with_overrides({"seed": 4})
        assert again.language_model == config and again.seed == 4
        assert validate_scenario(tomllib.loads(scenario.to_toml())) == scenario


def test_explicit_keys_are_kind_and_changed_values():
    assert explicit_keys(NGramConfig()) == {"kind": "ngram"}
    assert explicit_keys(TransformerConfig(layers=2, path=None)) == {
        "kind": "transformer",
        "layers": 2,
    }


def test_flat_keywords_switch_the_kind_of_a_society(small):
    from society.sim.model import Society

    society = Society(
        small,
        rounds=0,
        language_model_kind="transformer",
        language_model_layers=1,
        language_model_width=16,
        language_model_heads=2,
        language_model_context=16,
        language_model_ancestor_epochs=0.1,
        language_model_threads=1,
        real_data_max_texts=200,
        tokenizer_vocab_size=300,
        speech_utterances=2,
        speech_max_tokens=4,
    )
    assert isinstance(society.scenario.language_model, TransformerConfig)
    assert type(society.ancestor).__name__ == "TransformerLM"
    with pytest.raises(ConfigError, match=r"^Society\(\.\.\.\): language_model.memory: unknown"):
        Society(small, language_model_memory=0.5, language_model_kind="transformer")


def test_transformer_only_speech_keys_need_a_transformer():
    neural = Scenario().with_overrides(
        {"language_model.kind": "transformer", "speech.repetition_penalty": 1.3}
    )
    assert neural.speech.neural_sampling() == {"repetition_penalty": 1.3}
    with pytest.raises(ConfigError, match="speech.repetition_penalty: needs language_model.kind"):
        neural.with_overrides({"language_model.kind": "ngram"})
    assert Scenario().speech.neural_sampling() == {}
