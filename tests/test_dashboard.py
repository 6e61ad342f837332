"""The dashboard's parts without a browser: dialect colours, the network SVG, plots,
interventions, Mesa's model parameters, and `society viz` refusing bad input."""

import itertools
import re
import socket

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from society.app.cli import app
from society.app.dashboard import app as dashboard
from society.app.dashboard.app import model_params
from society.app.dashboard.mesa_api import Slider
from society.app.dashboard.network_view import (
    align_to_communities,
    current_dialects,
    dialect_distance,
    edge_divergence,
    network_figure,
    network_svg,
)
from society.app.dashboard.panels import (
    PLOTS,
    isolate,
    reconnect,
    ring_of_communities,
    round_figure,
    set_parameters,
    utterances_html,
)
from society.config import Scenario
from society.sim.model import Society
from society.sim.network import between_community_edges

#: Tiny and quick: small corpus and vocabulary, the expensive measures off.
TINY = {
    "rounds": 3,
    "network.kind": "caveman",
    "network.communities": 3,
    "network.size": 3,
    "speech.utterances": 15,
    "speech.max_tokens": 20,
    "real_data.max_texts": 600,
    "tokenizer.vocab_size": 300,
    "metrics.heldout_texts": 20,
    "metrics.self_bleu_texts": 0,
    "metrics.classifier_agents": 0,
    "metrics.ancestor_texts": 0,
    "metrics.cross_texts": 0,
    "metrics.dialect_null": 0,
    "metrics.mantel_permutations": 0,
    "metrics.expressions": 0,
}


@pytest.fixture
def tiny() -> Scenario:
    return Scenario().with_overrides(TINY)


@pytest.fixture
def society(tiny):
    """Three cliques of three agents (ids 1..9, communities 0, 0, 0, 1, 1, 1, 2, 2, 2)."""
    return Society(tiny)


def crafted_pairs(groups: list[list[int]]) -> pd.DataFrame:
    """A pair table in which agents of the same group are close (0.1) and others far (0.9)."""
    label = {agent: g for g, members in enumerate(groups) for agent in members}
    rows = [
        {"agent_i": i, "agent_j": j, "jsd_unigram": 0.1 if label[i] == label[j] else 0.9}
        for i, j in itertools.combinations(sorted(label), 2)
    ]
    return pd.DataFrame(rows)


def between_paths(svg: str) -> int:
    """How many edges the picture draws between communities."""
    group = re.search(r'<g id="between-edges">(.*?)</g>', svg, re.S)
    return 0 if group is None else group.group(1).count("<path")


@pytest.mark.parametrize(
    ("dialects", "communities", "expected"),
    [
        ([1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]),  # renamed after their community
        ([0, 0, 0, 1], [0, 0, 1, 1], [0, 0, 0, 1]),  # majority decides the name
        ([0, 0, 1, 2], [0, 0, 1, 1], [0, 0, 1, 2]),  # a dialect without a community
        ([5, 5, 5, 5], [0, 0, 1, 1], [0, 0, 0, 0]),  # one dialect takes the first name
        ([2, 0, 1, 1], [1, 1, 1, 1], [2, 0, 1, 1]),  # the biggest gets the community
    ],
)
def test_dialects_are_named_after_the_community_they_overlap_most(dialects, communities, expected):
    out = align_to_communities(np.array(dialects), np.array(communities))
    assert out.tolist() == expected


def test_current_dialects_are_the_measured_ones(society, monkeypatch):
    labels = dict(zip(range(1, 10), [4, 4, 4, 4, 4, 4, 7, 7, 7], strict=True))
    monkeypatch.setattr(society, "agent_measures", lambda uid: {"dialect": labels[uid]})
    assert current_dialects(society) == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 2, 8: 2, 9: 2}


def test_without_measured_dialects_nothing_is_reclustered(society):
    """A silhouette cut of the pair table would split these groups; the picture does not."""
    society.measured = None  # no measured round: no measured dialects
    society.pairs = [crafted_pairs([[1, 2, 3, 4, 5, 6], [7, 8, 9]])]
    assert set(current_dialects(society).values()) == {None}
    title = network_figure(society).axes[0].get_title()
    assert "dialects not measured" in title


def test_an_agent_joined_since_the_last_measure_is_unmeasured(society, monkeypatch):
    labels = dict(zip(range(1, 9), [4, 4, 4, 4, 4, 4, 7, 7], strict=True))
    monkeypatch.setattr(society, "agent_measures", lambda uid: {"dialect": labels.get(uid)})
    assert current_dialects(society) == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 2, 8: 2, 9: None}


def test_title_gives_the_measured_count_and_its_permutation_p(tiny):
    society = Society(tiny.with_overrides({"metrics.dialect_null": 39}))
    society.step()
    title = network_figure(society).axes[0].get_title()
    k, p = int(society.latest["dialects"]), society.latest["dialect_p"]
    assert 0 < p <= 1
    assert f"{k} dialect{'s' * (k != 1)} (p = {p:.2g})" in title
    untested = Society(tiny)  # metrics.dialect_null = 0: no test behind the count
    assert "(untested)" in network_figure(untested).axes[0].get_title()


@pytest.mark.parametrize(("values", "suffix"), [("excess", "_excess"), ("raw", "")])
def test_edges_carry_the_divergence_dialects_are_clustered_on(tiny, values, suffix):
    society = Society(tiny.with_overrides({"metrics.dialect_values": values}))
    column = society.scenario.metrics.dialect_distance + suffix
    assert dialect_distance(society) == column
    divergence = edge_divergence(society)
    assert set(divergence) == set(society.graph.edges)
    pairs = society.pairs[-1].set_index(["agent_i", "agent_j"])[column]
    node_agent = {a.node: a.unique_id for a in society.agents}
    for (u, v), value in divergence.items():
        a, b = sorted((node_agent[u], node_agent[v]))
        assert value == pytest.approx(pairs[(a, b)])


def test_picture_shows_edges_dialects_and_round(society):
    svg = network_svg(society)
    assert svg.startswith("<svg") and 'width="100%"' in svg
    assert between_paths(svg) == len(between_community_edges(society.graph)) == 3
    assert all(f'id="community-{c}"' in svg for c in range(3))
    society.step()
    assert "round 1:" in network_svg(society)


def test_isolate_and_reconnect_go_through_events_and_are_logged(society):
    assert isolate(society) == "removed 3 between-community edges"
    assert between_community_edges(society.graph) == []
    assert between_paths(network_svg(society)) == 0
    assert len(reconnect(society, bridges=2)) == 3
    assert len(between_community_edges(society.graph)) == 6
    assert [e["action"] for e in society.event_log] == ["isolate_communities"] + ["connect"] * 3
    assert {e["by"] for e in society.event_log} == {"dashboard"}
    assert {e["round"] for e in society.event_log} == {1}


@pytest.mark.parametrize(
    ("count", "expected"), [(1, []), (2, [(0, 1)]), (4, [(0, 1), (1, 2), (2, 3), (3, 0)])]
)
def test_reconnect_joins_communities_in_a_ring(tiny, count, expected):
    society = Society(tiny, network_communities=count, speech_utterances=5)
    assert ring_of_communities(society) == expected


def test_parameters_change_before_the_next_round_and_only_when_different(society):
    done = set_parameters(
        society,
        {"speech.temperature": 1.5, "speech.utterances": 15, "real_data.fraction": 0.25},
    )
    assert len(done) == 2
    assert society.scenario.speech.temperature == 1.5
    assert society.scenario.real_data.fraction == 0.25
    society.step()
    assert all(len(a.utterances) == 15 for a in society.agents)
    assert sum(t >= 0 for t, _ in society.speaker(1).heard) < len(society.speaker(1).heard)


def test_plots_draw_the_round_table_against_rounds(society):
    society.step()
    society.step()
    table = society.round_table()
    for title, (_, columns) in PLOTS.items():
        ax = round_figure(society, title).axes[0]
        assert len(ax.lines) == len(columns)
        for line, column in zip(ax.lines, columns, strict=True):
            assert line.get_xdata().tolist() == table["round"].tolist()
            assert np.allclose(line.get_ydata(), table[column], equal_nan=True)


def test_utterance_panel_escapes_and_limits(society):
    agent = society.speaker(2)
    agent.utterances = ["<b>bold</b> & co"] + [f"line {i}" for i in range(20)]
    page = utterances_html(society, 2, shown=5)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page and "<b>" not in page
    assert page.count("<li>") == 5
    assert "community 0" in page


def test_utterance_panel_names_characters_a_browser_cannot_draw(society):
    agent = society.speaker(2)
    agent.utterances = ["bees\x85\x0cverareer \u200b\ue000 héllo ñ 世界"]
    page = utterances_html(society, 2, shown=1)
    assert "bees&lt;U+0085&gt;&lt;U+000C&gt;verareer" in page
    assert "&lt;U+200B&gt;&lt;U+E000&gt;" in page and "héllo ñ 世界" in page
    assert not any(ch in page for ch in "\x85\x0c\u200b\ue000")


def test_reset_rebuilds_from_the_scenario_with_the_sliders(society):
    from mesa.visualization.solara_viz import _check_model_params

    params = model_params(society)
    _check_model_params(Society.__init__, params)  # what Mesa checks before Reset
    params["speech_temperature"].value = 0.7
    values = {k: v.value if isinstance(v, Slider) else v for k, v in params.items()}
    fresh = Society(**values)
    assert fresh.scenario.speech.temperature == 0.7
    assert fresh.corpus is society.corpus
    assert fresh.scenario.network == society.scenario.network


def test_viz_refuses_bad_input_before_serving(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[real_data]\nsource = "missing.txt"\n')
    result = CliRunner().invoke(app, ["viz", str(path), "--port", "0"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"error: {path}")
    assert "real_data.source" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_viz_refuses_a_busy_port(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text('name = "ok"\n')
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["viz", str(path), "--port", str(port)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: --port {port}: cannot listen on 127.0.0.1: Address already in use"
    )


def test_solara_run_without_serve_reads_the_scenario_from_the_environment(tiny, monkeypatch):
    monkeypatch.setattr(dashboard, "_served", {})
    monkeypatch.setenv(
        dashboard.SCENARIO_ENV, tiny.model_copy(update={"name": "env"}).model_dump_json()
    )
    society = dashboard.served_society()
    assert society.scenario.name == "env"
    assert dashboard.served_society() is society


def test_dialect_panel_and_round_axes(society):
    from society.app.dashboard.panels import dialect_figure, dialect_summary

    first = dialect_figure(society)
    assert first.axes[0].get_xlim() == (-0.5, 1.5)  # round 0: not -0.045..0.045
    society.step()
    table = society.round_table()
    ax = dialect_figure(society).axes[0]
    assert np.allclose(ax.lines[0].get_ydata(), table["dialects"])
    assert ax.get_xlim() == (-0.5, 1.5)
    last = table.iloc[-1]
    assert dialect_summary(society).startswith(f"round 1: {int(last['dialects'])} dialect")
    perplexity = round_figure(society, "Held-out perplexity").axes[0]
    assert perplexity.get_xlim() == (-0.5, 1.5)
