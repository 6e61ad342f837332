"""Preflight: the graph it checks is the society's, and what is legal but odd is a warning."""

from __future__ import annotations

import json

import networkx as nx
import pytest
from typer.testing import CliRunner

from society.app.cli import app
from society.config import ConfigError, Scenario
from society.run import layout, runner
from society.run.preflight import FEW_TEXTS, preflight
from society.sim.model import Society

KINDS = [
    {"network.kind": "small_world", "network.agents": 6, "network.k": 2, "network.p": 0.5},
    {"network.kind": "scale_free", "network.agents": 6, "network.m": 1},
    {"network.kind": "sbm", "network.communities": 2, "network.size": 3, "network.p_in": 0.8,
     "network.p_out": 0.2, "real_data.fraction": 0.2},
    {"network.kind": "caveman", "network.communities": 2, "network.size": 3},
]  # fmt: skip


@pytest.mark.parametrize("network", KINDS, ids=[k["network.kind"] for k in KINDS])
@pytest.mark.parametrize("seed", [0, 7])
def test_the_checked_graph_is_the_societys_graph(small, network, seed):
    scenario = small.with_overrides({**network, "seed": seed, "rounds": 0})
    checked = preflight(scenario, "s.toml", load_data=False)
    built = Society(scenario).graph
    assert nx.utils.graphs_equal(checked.graph, built)
    assert dict(checked.graph.nodes(data="community")) == dict(built.nodes(data="community"))


def test_an_isolated_agent_is_fine_when_it_hears_real_text_or_itself(tmp_path):
    graph = nx.cycle_graph(4)
    graph.add_node(9)
    nx.write_graphml(graph, tmp_path / "g.graphml")
    base = Scenario().with_overrides(
        {"network.kind": "file", "network.path": str(tmp_path / "g.graphml")}
    )
    with pytest.raises(ConfigError, match="network: node 4: an agent with no neighbour"):
        preflight(base, "s.toml", load_data=False)
    for fix in ({"real_data.fraction": 0.1}, {"listening.include_self": True},
                {"real_data.schedule": [[3, 0.5]]}):  # fmt: skip
        preflight(base.with_overrides(fix), "s.toml", load_data=False)


def test_random_removals_still_count_agents(small):
    events = [
        {"round": 1, "action": "remove_agents", "share": 0.5},
        {"round": 2, "action": "add_agents", "count": 2, "community": 0},
        {"round": 3, "action": "remove_agents", "count": 4},
    ]
    preflight(small.with_overrides({"events": events}), "s.toml", load_data=False)  # 6-3+2-4=1
    events[2]["count"] = 5
    with pytest.raises(ConfigError, match=r"^s.toml: events.2: removes every agent"):
        preflight(small.with_overrides({"events": events}), "s.toml", load_data=False)


def test_an_added_agent_can_be_named_by_later_events(small):
    events = [
        {"round": 1, "action": "add_agents", "count": 1, "community": 1},
        {"round": 2, "action": "commit", "nodes": [6]},
    ]
    preflight(small.with_overrides({"events": events}), "s.toml", load_data=False)
    events[1]["nodes"] = [7]
    with pytest.raises(ConfigError, match="events.1.nodes: no agent on node 7"):
        preflight(small.with_overrides({"events": events}), "s.toml", load_data=False)


def _small_toml(tmp_path, body: str = "") -> str:
    path = tmp_path / "s.toml"
    path.write_text(
        'name = "w"\nrounds = 2\n[network]\nkind = "caveman"\ncommunities = 2\nsize = 3\n'
        "[speech]\nutterances = 10\nmax_tokens = 10\n[tokenizer]\nvocab_size = 400\n"
        "[metrics]\nheldout_texts = 10\n" + body
    )
    return str(path)


def test_a_small_corpus_and_a_curation_that_keeps_nothing_are_warnings(tmp_path):
    corpus = tmp_path / "few.txt"
    corpus.write_text(
        "\n".join(f"The fox number {i} sees the hen by the river." for i in range(40))
    )
    body = (
        f'[real_data]\nsource = "{corpus}"\nunit = "line"\n[curation]\nmin_words = 30\n'
        '[[events]]\nround = 2\naction = "set"\nkey = "curation.min_words"\nvalue = 30\n'
    )  # the `set` makes "no utterance can be kept" a warning, not an error
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", _small_toml(tmp_path, body), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    warnings = json.loads((out / layout.MANIFEST).read_text())["warnings"]
    assert any(f"fewer than {FEW_TEXTS}" in w for w in warnings)
    assert any(w.startswith("curation.min_words: 30 is above speech.max_tokens") for w in warnings)
    assert any(w.startswith("round 1: curation kept none of") for w in warnings)
    assert any(w.startswith("round 2: curation kept none of") for w in warnings)
    printed = " ".join(result.output.split())
    assert "warning: round 1: curation kept none of" in printed


def test_the_run_directory_exists_before_the_society_is_built(tmp_path, monkeypatch, small):
    seen = {}
    real = runner.build_society

    def build(scenario, origin, corpus=None):  # noqa: ANN001, ANN202
        seen["manifest"] = json.loads((tmp_path / "run" / layout.MANIFEST).read_text())
        return real(scenario, origin, corpus)

    monkeypatch.setattr(runner, "build_society", build)
    runner.run_scenario(small.with_overrides({"rounds": 1}), tmp_path / "run")
    assert seen["manifest"]["status"] == layout.RUNNING and seen["manifest"]["rounds_done"] == 0
    assert seen["manifest"]["pid"] > 0 and seen["manifest"]["heartbeat"]


def test_bad_input_found_while_building_still_leaves_nothing(tmp_path, monkeypatch, small):
    def build(scenario, origin, corpus=None):  # noqa: ANN001, ANN202
        raise ConfigError(f"{origin}: language_model: device = 'cuda' is not available")

    monkeypatch.setattr(runner, "build_society", build)
    with pytest.raises(ConfigError, match="device"):
        runner.run_scenario(small, tmp_path / "run", origin="s.toml")
    assert not (tmp_path / "run").exists()


def test_an_unwritable_out_is_refused(tmp_path, monkeypatch):
    import tempfile

    from society.run.preflight import check_out

    def refuse(**kwargs):  # noqa: ANN003, ANN202
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(ConfigError, match=r"is not writable \(Permission denied\)$"):
        check_out(tmp_path / "a" / "run")
    assert not (tmp_path / "a").exists()


def test_nan_in_an_always_measured_column_is_a_warning():
    from types import SimpleNamespace

    from society.run.runner import round_warnings

    def society(perplexity: float, measured: int = 3) -> SimpleNamespace:
        return SimpleNamespace(
            round=3,
            agents=[SimpleNamespace(heard=[1, 2], kept=[1])],
            latest={"perplexity": perplexity, "grammatical": float("nan")},
            measured=SimpleNamespace(measured_round=measured),
        )

    assert round_warnings(society(12.5)) == []  # NaN where a measure is off: no warning
    assert round_warnings(society(float("nan"))) == ["round 3: NaN in perplexity"]
    assert round_warnings(society(float("nan"), measured=2)) == []  # not measured this round


def test_missing_local_files_fail_a_run_but_not_validate(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        '[language_model]\nkind = "transformer"\npath = "weights/none"\n'
        '[language_model.communities.0]\nkind = "ngram"\n'
        '[real_data]\nsource = "data/none.txt"\n'
    )
    from society.config import load_scenario

    scenario = load_scenario(path)
    checked = preflight(scenario, str(path), local_files=False)
    assert checked.missing == [
        f"language_model.path: {tmp_path / 'weights/none'}",
        f"real_data.source: {tmp_path / 'data/none.txt'}",
    ]
    assert checked.sources is None  # nothing that needs them was attempted
    with pytest.raises(ConfigError, match=r"language_model.path: .* is not a checkpoint"):
        preflight(scenario, str(path))
    ok = CliRunner().invoke(app, ["validate", str(path)])
    assert ok.exit_code == 0 and "needs local files not here" in ok.output
    run = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run")])
    assert run.exit_code == 2 and "language_model.path" in run.stderr
    assert not (tmp_path / "run").exists()
