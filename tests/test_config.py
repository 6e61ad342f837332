import tomllib
from pathlib import Path

import pytest

from society.config import (
    SECTIONS,
    SETTABLE,
    SETTABLE_KEYS,
    ConfigError,
    Scenario,
    apply_set,
    flat_to_dotted,
    load_scenario,
    parse_override,
    validate_scenario,
)

SCENARIOS = sorted(Path(__file__).parent.parent.joinpath("scenarios").glob("*.toml"))


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_key_has_a_default():
    scenario = Scenario()
    assert scenario.rounds > 0
    assert scenario.network.kind == "caveman"
    assert scenario.language_model.kind == "ngram"


def test_resolved_toml_round_trips():
    scenario = Scenario().with_overrides({"speech.temperature": 0.7, "network.kind": "ring"})
    again = validate_scenario(tomllib.loads(scenario.to_toml()))
    assert again == scenario


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_validate(path):
    scenario = load_scenario(path)
    assert scenario.name == path.stem


def test_unknown_key_names_file_and_field(tmp_path):
    path = write(tmp_path, "[speech]\nutterance = 3\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: speech.utterance: unknown key"


def test_wrong_type_names_field(tmp_path):
    path = write(tmp_path, 'rounds = "many"\n')
    with pytest.raises(ConfigError, match=r"s\.toml: rounds: Input should be a valid integer"):
        load_scenario(path)


def test_malformed_toml(tmp_path):
    path = write(tmp_path, "[network\nkind = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_scenario(path)


def test_missing_scenario_file(tmp_path):
    with pytest.raises(ConfigError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.toml")


def test_errors_are_one_line(tmp_path):
    path = write(tmp_path, 'rounds = "x"\n[network]\nkind = "blob"\nfoo = 1\n')
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert "\n" not in str(info.value)
    assert "network.kind" in str(info.value) and "network.foo" in str(info.value)


def test_file_graph_needs_path(tmp_path):
    path = write(tmp_path, '[network]\nkind = "file"\n')
    with pytest.raises(ConfigError, match="network: kind = 'file' needs path"):
        load_scenario(path)


def test_overrides_are_typed_and_validated(tmp_path):
    path = write(tmp_path, "rounds = 3\n")
    scenario = load_scenario(path, ["real_data.fraction=0.25", "network.kind=ring", "name=x y"])
    assert scenario.real_data.fraction == 0.25
    assert scenario.network.kind == "ring"
    assert scenario.name == "x y"
    with pytest.raises(ConfigError, match="real_data.fraction"):
        load_scenario(path, ["real_data.fraction=2"])
    with pytest.raises(ConfigError, match="speech.nope: unknown key"):
        load_scenario(path, ["speech.nope=1"])


def test_seed_option_replaces_seed(tmp_path):
    assert load_scenario(write(tmp_path, "seed = 1\n"), seed=5).seed == 5


def test_relative_paths_resolve_against_scenario_folder(tmp_path):
    path = write(tmp_path, '[real_data]\nsource = "data/c.txt"\n')
    assert load_scenario(path).real_data.source == str(tmp_path / "data" / "c.txt")
    assert load_scenario(write(tmp_path, "", "k.toml")).real_data.source == "kjv"


def test_every_path_key_resolves_and_absolute_paths_stay(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    labels = tmp_path / "elsewhere" / "labels.csv"  # given as an absolute path
    labels.parent.mkdir()
    labels.write_text("text,label\n")
    body = (
        'rounds = 1\n[network]\nkind = "file"\npath = "g.graphml"\n'
        '[language_model]\nkind = "transformer"\npath = "ckpt"\n'
        f'[curation]\nlabels = "{labels}"\n'
    )
    scenario = load_scenario(write(tmp_path, body, "p.toml"))
    assert scenario.network.path == str(tmp_path / "g.graphml")
    assert scenario.language_model.path == str(tmp_path / "ckpt")
    assert scenario.curation.labels == str(labels)


def test_parse_override():
    assert parse_override("a.b=3") == ("a.b", 3)
    assert parse_override("a=true") == ("a", True)
    assert parse_override("a=hello") == ("a", "hello")
    with pytest.raises(ConfigError):
        parse_override("novalue")


def test_flat_names_map_to_sections():
    assert flat_to_dotted("real_data_fraction") == "real_data.fraction"
    assert flat_to_dotted("language_model_order") == "language_model.order"
    assert flat_to_dotted("rounds") == "rounds"


def test_events_are_validated(tmp_path):
    ok = write(tmp_path, 'rounds = 4\n[[events]]\nround = 2\naction = "isolate_communities"\n')
    assert load_scenario(ok).events[0].action == "isolate_communities"
    late = write(tmp_path, 'rounds = 2\n[[events]]\nround = 3\naction = "cut_edges"\nedges=[]\n')
    with pytest.raises(ConfigError, match="after the last round"):
        load_scenario(late)
    unknown = write(tmp_path, 'rounds = 4\n[[events]]\nround = 2\naction = "explode"\n')
    with pytest.raises(ConfigError, match="events.0"):
        load_scenario(unknown)


def set_events(*events: tuple[int, str, str]) -> str:
    """``[[events]]`` tables of ``set`` events ``(round, key, TOML value)``."""
    return "".join(
        f'[[events]]\nround = {r}\naction = "set"\nkey = "{key}"\nvalue = {value}\n'
        for r, key, value in events
    )


def test_settable_keys_are_fields_of_their_sections():
    for section, keys in SETTABLE.items():
        assert section in SECTIONS
        fields = Scenario.model_fields[section].annotation.model_fields
        assert set(keys) <= set(fields), section


@pytest.mark.parametrize("key", ["network.kind", "rounds", "metrics.every", "learning.data"])
def test_a_set_of_a_key_read_once_fails_at_load_naming_the_event(tmp_path, key):
    path = write(tmp_path, "rounds = 4\n" + set_events((1, "speech.top_p", 0.5), (2, key, 1)))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: events.1.key: '{key}' cannot change mid-run (settable: ")
    assert "\n" not in message and "speech.{utterances, " in message


def test_a_set_to_a_value_the_scenario_refuses_fails_at_load(tmp_path):
    path = write(tmp_path, "rounds = 4\n" + set_events((2, "real_data.fraction", 1.5)))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}: events.0.value: real_data.fraction = 1.5: Input should be less than or equal to 1"
    )
    neural = write(tmp_path, "rounds = 4\n" + set_events((1, "speech.top_k", 5)), "n.toml")
    with pytest.raises(ConfigError, match=r"events\.0\.value: speech\.top_k = 5: .*transformer"):
        load_scenario(neural)


def test_set_events_are_checked_in_the_order_the_run_applies_them(tmp_path):
    """keep_best needs a critic: fine when the critic is set in an earlier round."""
    body = set_events((3, "curation.keep_best", 0.5), (2, "curation.critic", '"real"'))
    scenario = load_scenario(write(tmp_path, "rounds = 4\n" + body))
    assert [e.key for e in scenario.events] == ["curation.keep_best", "curation.critic"]
    late = set_events((2, "curation.keep_best", 0.5), (3, "curation.critic", '"real"'))
    with pytest.raises(ConfigError, match=r"events\.0\.value: curation\.keep_best = 0\.5: "):
        load_scenario(write(tmp_path, "rounds = 4\n" + late, "late.toml"))


def test_apply_set_changes_one_key_and_keeps_the_events():
    events = [{"round": 1, "action": "set", "key": "speech.temperature", "value": 0.5}]
    scenario = Scenario().with_overrides({"rounds": 3, "events": events})
    changed = apply_set(scenario, "speech.temperature", 0.5)
    assert changed.speech.temperature == 0.5 and changed.events == scenario.events
    assert changed.model_dump(exclude={"speech"}) == scenario.model_dump(exclude={"speech"})
    assert len(SETTABLE_KEYS) == sum(len(keys) for keys in SETTABLE.values())


def test_cheap_metrics_overrides_name_real_fields():
    """tests/cheap_metrics.py refuses keys MetricsConfig lacks instead of skipping them."""
    from tests.cheap_metrics import WANTED, check

    check(WANTED)
    with pytest.raises(KeyError, match="classifier_agentz"):
        check({"classifier_agentz": 0})
    with pytest.raises(ValueError, match="refuses"):
        check({"classifier_agents": "many"})


def test_a_dialect_test_that_can_never_reject_is_refused(tmp_path):
    path = write(tmp_path, "[metrics]\ndialect_null = 10\n")
    with pytest.raises(ConfigError, match=r"s\.toml: metrics: .*dialect_null: 10 deals never give"):
        load_scenario(path)
    assert load_scenario(write(tmp_path, "[metrics]\ndialect_null = 0\n")).metrics.dialect_null == 0
