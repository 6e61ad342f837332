import networkx as nx
import numpy as np
import pytest
from pydantic import ValidationError

from society.config import ConfigError, NetworkConfig, load_scenario
from society.sim.network import (
    GraphError,
    between_community_edges,
    build_graph,
    communities,
    community_members,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def graph_of(kind: str, seed: int = 0, **params) -> nx.Graph:
    """``build_graph`` from a ``[network]`` table of ``kind`` with ``params``."""
    return build_graph(NetworkConfig(kind=kind, **params), rng(seed))


def edges(graph: nx.Graph) -> set[tuple[int, int]]:
    return {(min(u, v), max(u, v)) for u, v in graph.edges}


def check_contract(graph: nx.Graph) -> None:
    assert type(graph) is nx.Graph
    assert sorted(graph.nodes) == list(range(graph.number_of_nodes()))
    assert nx.number_of_selfloops(graph) == 0
    for _, data in graph.nodes(data=True):
        assert isinstance(data["label"], str)
        assert type(data["community"]) is int
    for _, _, data in graph.edges(data=True):
        assert type(data["weight"]) is float


@pytest.mark.parametrize(
    ("kind", "params", "nodes", "edge_count"),
    [
        ("complete", {"agents": 5}, 5, 10),
        ("ring", {"agents": 6}, 6, 6),
        ("lattice", {"agents": 12}, 12, 17),  # 3 x 4
        ("lattice", {"rows": 2, "cols": 5}, 10, 13),
        ("lattice", {"agents": 10, "rows": 2}, 10, 13),
        ("small_world", {"agents": 10, "k": 4, "p": 0.3}, 10, 20),
        ("scale_free", {"agents": 10, "m": 2}, 10, 16),
        ("caveman", {"communities": 3, "size": 4}, 12, 18),
        ("caveman", {"communities": 1, "size": 5}, 5, 10),
        ("star", {"agents": 7}, 7, 6),
    ],
)
def test_kinds_give_expected_sizes(kind, params, nodes, edge_count):
    graph = graph_of(kind, weight=2.5, **params)
    check_contract(graph)
    assert graph.number_of_nodes() == nodes
    assert graph.number_of_edges() == edge_count
    assert {w for _, _, w in graph.edges(data="weight")} == {2.5}


def test_ring_and_lattice_shapes():
    ring = graph_of("ring", agents=6)
    assert all(d == 2 for _, d in ring.degree)
    lattice = graph_of("lattice", agents=12)
    assert lattice.nodes[0]["label"] == "(0, 0)" and lattice.nodes[11]["label"] == "(2, 3)"
    assert sorted(d for _, d in lattice.degree).count(2) == 4  # corners
    assert nx.is_connected(graph_of("small_world", 3, agents=12, k=2, p=0.9))


def test_caveman_communities():
    graph = graph_of("caveman", communities=3, size=4)
    assert community_members(graph) == {c: list(range(4 * c, 4 * c + 4)) for c in range(3)}
    assert nx.is_connected(graph)
    assert "community_label" not in graph.nodes[0]


def test_sbm_blocks():
    cliques = graph_of("sbm", communities=3, size=5, p_in=1.0, p_out=0.0)
    check_contract(cliques)
    assert community_members(cliques) == {c: list(range(5 * c, 5 * c + 5)) for c in range(3)}
    assert cliques.number_of_edges() == 3 * 10 and between_community_edges(cliques) == []
    assert not nx.is_connected(cliques)
    tripartite = graph_of("sbm", communities=3, size=2, p_in=0.0, p_out=1.0)
    assert len(between_community_edges(tripartite)) == tripartite.number_of_edges() == 12


def test_star_hub():
    graph = graph_of("star", agents=9)
    assert graph.degree[0] == 8
    assert all(graph.degree[n] == 1 for n in range(1, 9))


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("small_world", {"agents": 30, "k": 4, "p": 0.5}),
        ("scale_free", {"agents": 30, "m": 2}),
        ("sbm", {"communities": 3, "size": 10, "p_in": 0.5, "p_out": 0.1}),
    ],
)
def test_random_kinds_follow_the_seed(kind, params):
    first = edges(graph_of(kind, 7, **params))
    assert first == edges(graph_of(kind, 7, **params))
    assert first != edges(graph_of(kind, 8, **params))


def test_every_kind_takes_one_draw():
    for kind in ("complete", "small_world", "caveman"):
        generator = rng(1)
        build_graph(NetworkConfig(kind=kind), generator)
        after = generator.integers(2**31)
        reference = rng(1)
        reference.integers(2**31)
        assert after == reference.integers(2**31)


def test_graphml_string_ids_and_communities_round_trip(tmp_path):
    raw = nx.Graph()
    raw.add_nodes_from(["n10", "n2", "n1"], community="south")
    raw.add_node("zed", community="north")
    raw.add_edge("n10", "n2", weight=3.0)
    raw.add_edges_from([("n2", "n1"), ("n1", "n1"), ("zed", "n10")])
    path = tmp_path / "g.graphml"
    nx.write_graphml(raw, path)
    graph = graph_of("file", path=str(path), weight=0.5)
    check_contract(graph)
    assert [graph.nodes[n]["label"] for n in graph] == ["n1", "n2", "n10", "zed"]
    assert [graph.nodes[n]["community"] for n in graph] == [1, 1, 1, 0]
    assert [graph.nodes[n]["community_label"] for n in graph] == ["south"] * 3 + ["north"]
    assert graph.edges[1, 2]["weight"] == 3.0
    assert graph.edges[0, 1]["weight"] == 0.5
    assert graph.number_of_edges() == 3  # self-loop dropped


def test_directed_multigraph_merges_by_summing_weights(tmp_path):
    raw = nx.MultiDiGraph()
    raw.add_edge(0, 1, weight=1.0)
    raw.add_edge(1, 0, weight=2.0)
    raw.add_edge(0, 1, weight=4.0)
    raw.add_edge(1, 2)
    path = tmp_path / "g.graphml"
    nx.write_graphml(raw, path)
    graph = graph_of("file", path=str(path))
    check_contract(graph)
    assert graph.edges[0, 1]["weight"] == 7.0
    assert graph.edges[1, 2]["weight"] == 1.0


def test_gml_uses_node_labels(tmp_path):
    raw = nx.Graph()
    raw.add_edges_from([("b", "a"), ("a", "c")], weight=2)
    raw.nodes["a"]["community"] = 5
    raw.nodes["b"]["community"] = 3
    raw.nodes["c"]["community"] = 5
    path = tmp_path / "g.gml"
    nx.write_gml(raw, path)
    graph = graph_of("file", path=str(path))
    check_contract(graph)
    assert [graph.nodes[n]["label"] for n in graph] == ["a", "b", "c"]
    assert communities(graph) == {0: 1, 1: 0, 2: 1}
    assert edges(graph) == {(0, 1), (0, 2)}
    assert graph.edges[0, 1]["weight"] == 2.0


def test_weighted_edge_lists(tmp_path):
    text = tmp_path / "g.txt"
    text.write_text("# a comment\n1 2 0.5\n2 10\n10 1 3\n2 1 1.5\n")
    graph = graph_of("file", path=str(text), weight=9.0)
    check_contract(graph)
    assert [graph.nodes[n]["label"] for n in graph] == ["1", "2", "10"]
    assert graph.edges[0, 1]["weight"] == 2.0  # two lines merged
    assert graph.edges[1, 2]["weight"] == 9.0
    assert graph.edges[0, 2]["weight"] == 3.0
    assert set(communities(graph).values()) == {0}
    table = tmp_path / "g.csv"
    table.write_text("source,target,weight\nann,bob,2\nbob,cy,0.25\n")
    graph = graph_of("file", path=str(table))
    assert graph.number_of_nodes() == 3
    assert graph.edges[1, 2]["weight"] == 0.25


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.graphml", "<graphml><not closed"),
        ("bad.gml", "graph [ node [ id 0 ] edge [ source 0 target 9 ] ]"),
        ("bad.edges", "a b c d\n"),
        ("bad.txt", "a b heavy\n"),
        ("bad.csv", "a,b,-1\n"),
        ("empty.edgelist", "# nothing\n"),
        ("lonely.txt", "a a\n"),
        ("g.json", "{}"),
    ],
)
def test_bad_files_raise_one_line_naming_the_path(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(GraphError) as info:
        graph_of("file", path=str(path))
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.graphml"
    with pytest.raises(GraphError, match="no such graph file") as info:
        graph_of("file", path=str(missing))
    assert str(missing) in str(info.value)


def test_partial_community_attribute_is_an_error(tmp_path):
    raw = nx.path_graph(3)
    raw.nodes[0]["community"] = "x"
    path = tmp_path / "g.graphml"
    nx.write_graphml(raw, path)
    with pytest.raises(GraphError, match="2 nodes have no 'community'"):
        graph_of("file", path=str(path))


@pytest.mark.parametrize(
    ("kind", "params", "needle"),
    [
        ("small_world", {"agents": 4, "k": 4}, "k must be"),
        ("scale_free", {"agents": 3, "m": 3}, "m must be"),
        ("complete", {"agents": 1}, "agents must be at least 2"),
        ("lattice", {"agents": 7, "rows": 2}, "not a multiple"),
        ("lattice", {"agents": 1}, "agents must be at least 2"),
        ("lattice", {"rows": 1, "cols": 1}, "1 node"),
        ("caveman", {"communities": 2, "size": 2}, "size must be at least 3"),
        ("sbm", {"communities": 1, "size": 1}, "1 node"),
    ],
)
def test_parameters_the_kind_cannot_use_are_graph_errors(kind, params, needle):
    with pytest.raises(GraphError, match=needle) as info:
        graph_of(kind, **params)
    assert str(info.value).startswith(f"{kind}: ")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "hypercube"}, "kind"),
        ({"kind": "ring", "agents": 0}, "agents"),
        ({"kind": "lattice", "rows": -1}, "rows"),
        ({"kind": "complete", "weight": 0.0}, "weight"),
        ({"kind": "complete", "weight": float("inf")}, "weight"),
        ({"kind": "file"}, "needs path"),
    ],
)
def test_parameters_no_graph_takes_are_refused_by_the_config(params, field):
    with pytest.raises(ValidationError, match=field):
        NetworkConfig(**params)


def test_a_scenario_file_with_a_bad_network_fails_at_load(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[network]\nkind = "ring"\nweight = inf\n')
    with pytest.raises(ConfigError, match=r"s\.toml: network\.weight: "):
        load_scenario(path)


def test_the_default_table_builds_the_default_graph():
    graph = build_graph(NetworkConfig(), rng())
    assert community_members(graph) == {0: [0, 1, 2, 3], 1: [4, 5, 6, 7]}  # caveman 2 x 4
    assert {w for _, _, w in graph.edges(data="weight")} == {1.0}


def test_between_community_edges_are_the_bridges():
    graph = graph_of("caveman", communities=3, size=4)
    label = communities(graph)
    bridges = between_community_edges(graph)
    assert len(bridges) == 3
    assert all(label[u] != label[v] and u < v for u, v in bridges)
    graph.remove_edges_from(bridges)
    assert between_community_edges(graph) == []
    assert nx.number_connected_components(graph) == 3


def test_a_kind_without_a_generator_is_a_graph_error():
    """A kind added to NetworkConfig but not to the generators fails loudly."""
    with pytest.raises(GraphError, match="no generator for kind 'hypercube'"):
        build_graph(NetworkConfig.model_construct(kind="hypercube"), rng())
