"""Preflight: everything checkable about a run, checked before anything is written or trained.

``preflight`` reads the scenario (and the cheap things it names: the graph, the corpus)
and raises a one-line :class:`ConfigError` ``FILE: field: reason`` for input that cannot
mean anything: numbers that are not finite, weights too large to sum, empty paths, a
negative seed, events that name communities or nodes the society will not have, events
that remove every agent, an agent with nobody to listen to and no real text, an unusable
run directory. What is legal but suspicious (a tiny corpus) becomes a warning that the
runner prints and keeps in the manifest's ``warnings``.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from society.config import (
    BUILTIN_SOURCES,
    AddAgents,
    AgentChoice,
    Commit,
    ConfigError,
    Connect,
    CutEdges,
    Migrate,
    RemoveAgents,
    Scenario,
    SetParameter,
)
from society.corpora import CorpusError
from society.sim.community_sources import CommunitySources
from society.sim.network import GraphError, build_graph, communities

#: Largest edge or voice weight accepted: listeners normalise weights by their sum.
MAX_WEIGHT = 1e9
#: Most agents a society may have (each holds its own language model).
MAX_AGENTS = 100_000
#: A corpus with fewer training texts than this is legal but suspicious (a warning).
FEW_TEXTS = 50
#: Path-valued keys that must not be empty strings (an empty path means "this folder").
PATH_KEYS = ("real_data.source", "network.path", "language_model.path", "curation.labels")


@dataclass
class Checked:
    """What preflight learned: the graph and corpus it built, and its warnings."""

    graph: nx.Graph
    sources: CommunitySources | None = None
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # local files left unchecked


def _walk(data: Any, path: str = ""):  # noqa: ANN202
    """Yield ``(dotted path, value)`` for every leaf of nested dicts and lists."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            yield from _walk(value, f"{path}.{i}" if path else str(i))
    else:
        yield path, data


def check_numbers(scenario: Scenario, origin: str) -> None:
    """Refuse non-finite numbers anywhere, weights too large to sum, a negative seed."""
    if scenario.seed < 0:
        raise ConfigError(f"{origin}: seed: must be >= 0, got {scenario.seed}")
    if scenario.real_data.split_seed < 0:
        raise ConfigError(f"{origin}: real_data.split_seed: must be >= 0")
    for where, value in _walk(scenario.model_dump(mode="python")):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{origin}: {where}: {value} is not a finite number")
        weight = where.rsplit(".", 1)[-1] in ("weight", "self_weight")
        if weight and isinstance(value, int | float) and value > MAX_WEIGHT:
            raise ConfigError(f"{origin}: {where}: {value:g} is above {MAX_WEIGHT:g}")


def check_paths(scenario: Scenario, origin: str) -> None:
    """Refuse empty path strings (they would silently mean the scenario's folder)."""
    data = scenario.model_dump(mode="python")
    for key in PATH_KEYS:
        section, name = key.split(".")
        value = data.get(section, {}).get(name)
        if isinstance(value, str) and not value.strip():
            raise ConfigError(f"{origin}: {key}: is empty (give a source or a file)")
    for label, source in scenario.real_data.communities.items():
        if not source.strip():
            raise ConfigError(f"{origin}: real_data.communities.{label}: is empty")
    for where, table in model_tables(scenario)[1:]:
        path = getattr(table, "path", None)
        if isinstance(path, str) and not path.strip():
            raise ConfigError(f"{origin}: {where}.path: is empty (give a checkpoint folder)")


def check_out(out: Path, origin: str = "--out") -> None:
    """Refuse a run directory that is a file, non-empty, or under an unwritable folder."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"{out}: run directory is an existing file")
        if any(out.iterdir()):
            raise ConfigError(f"{out}: run directory already exists and is not empty")
    parent = out.absolute()
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{out}: {parent} is a file, not a folder")
    try:  # os.access says yes to root even on a read-only file system: try it
        os.rmdir(tempfile.mkdtemp(prefix=".society-probe-", dir=parent))
    except OSError as error:
        raise ConfigError(f"{out}: {parent} is not writable ({error.strerror})") from None


def model_tables(scenario: Scenario) -> list[tuple[str, Any]]:
    """``(field, table)`` of ``[language_model]`` and of each community's own table."""
    config = scenario.language_model
    out: list[tuple[str, Any]] = [("language_model", config)]
    for label, table in sorted(config.communities.items()):
        out.append((f"language_model.communities.{label}", table))
    return out


def check_checkpoint(scenario: Scenario, origin: str) -> None:
    """A checkpoint ``path`` is a directory with ``config.json`` and safetensors weights.

    Pickle is never loaded. Checked here rather than when the file is read, so a scenario
    naming weights this machine lacks still validates its structure (``society validate``
    with ``local_files=False``).
    """
    for where, table in model_tables(scenario):
        path = getattr(table, "path", None)
        if not path or not path.strip():
            continue
        if not (Path(path) / "config.json").is_file():
            raise ConfigError(
                f"{origin}: {where}.path: {path} is not a checkpoint directory (no config.json)"
            )
        if not any(Path(path).glob("*.safetensors")):
            pickled = sorted(p.name for p in Path(path).glob("*.bin")) or ["no weights"]
            raise ConfigError(
                f"{origin}: {where}.path: {path} has no .safetensors weights "
                f"({pickled[0]}: pickle checkpoints are never loaded; convert to safetensors)"
            )


def check_model_communities(scenario: Scenario, graph: nx.Graph, origin: str) -> None:
    """Every ``[language_model.communities.<label>]`` names a community of the graph."""
    have = sorted(set(communities(graph).values()))
    for label in sorted(scenario.language_model.communities):
        if label not in have:
            raise ConfigError(
                f"{origin}: language_model.communities.{label}: no community {label} "
                f"(the graph has {', '.join(map(str, have))})"
            )


def missing_local_files(scenario: Scenario) -> list[str]:
    """Local paths the scenario names that this machine lacks (``field: path``).

    Checkpoints (``path`` of every language-model table) and a real-data source given as
    a path; built-in sources are not paths.
    """
    out = [
        f"{where}.path: {table.path}"
        for where, table in model_tables(scenario)
        if getattr(table, "path", None) and not Path(table.path).exists()
    ]
    sources = [("real_data.source", scenario.real_data.source)] + [
        (f"real_data.communities.{label}", source)
        for label, source in sorted(scenario.real_data.communities.items())
    ]
    for where, source in sources:
        if source not in BUILTIN_SOURCES and not Path(source).exists():
            out.append(f"{where}: {source}")
    return out


def build_checked_graph(scenario: Scenario, origin: str) -> nx.Graph:
    """The society's first graph, built exactly as ``Society`` builds it (same single draw)."""
    net = scenario.network
    if net.kind in ("caveman", "sbm"):
        count, where = net.communities * net.size, "network.communities x size"
    elif net.kind == "lattice" and net.rows and net.cols:
        count, where = net.rows * net.cols, "network.rows x cols"
    else:
        count, where = net.agents, "network.agents"
    if net.kind != "file" and count > MAX_AGENTS:
        raise ConfigError(f"{origin}: {where}: {count} agents is more than {MAX_AGENTS}")
    try:
        graph = build_graph(scenario.network, np.random.default_rng(scenario.seed))
    except GraphError as error:
        field_ = "network.path" if scenario.network.kind == "file" else "network"
        raise ConfigError(f"{origin}: {field_}: {error}") from None
    for u, v, weight in graph.edges(data="weight"):
        if weight > MAX_WEIGHT:
            raise ConfigError(f"{origin}: network: edge ({u}, {v}) weight {weight:g} is too large")
    return graph


def _hears_real_text(scenario: Scenario) -> bool:
    """Whether any round may hear real text (fraction, schedule, or a ``set`` of either)."""
    real = scenario.real_data
    if real.fraction > 0 or any(v > 0 for _, v in real.schedule):
        return True
    return any(
        isinstance(e, SetParameter) and e.key.startswith("real_data.") for e in scenario.events
    )


def _self_listening(scenario: Scenario) -> bool:
    return scenario.listening.include_self or any(
        isinstance(e, SetParameter) and e.key == "listening.include_self" and e.value
        for e in scenario.events
    )


def check_listeners(scenario: Scenario, graph: nx.Graph, origin: str) -> None:
    """Refuse a society where some agent can hear nothing: no neighbour, no real text, no self."""
    if _hears_real_text(scenario) or _self_listening(scenario):
        return
    alone = [node for node in sorted(graph) if graph.degree(node) == 0]
    if alone:
        what = "the graph has no edges" if len(alone) == len(graph) else f"node {alone[0]}"
        raise ConfigError(
            f"{origin}: network: {what}: an agent with no neighbour hears nothing "
            "(set real_data.fraction > 0 or listening.include_self = true)"
        )


class _Plan:
    """The society's nodes and communities as the events will leave them, where knowable.

    Random choices (``count``/``share``) make exact membership unknowable; after one,
    node and community checks stop (``exact`` is False) but the agent count still holds.
    """

    def __init__(self, graph: nx.Graph) -> None:
        self.community = communities(graph)
        self.count = graph.number_of_nodes()
        self.next_node = max(graph.nodes, default=-1) + 1
        self.exact = True

    def communities(self) -> set[int]:
        return set(self.community.values())

    def need_nodes(self, nodes: list[int], where: str) -> None:
        if self.exact:
            missing = [n for n in nodes if n not in self.community]
            if missing:
                raise ConfigError(f"{where}: no agent on node {missing[0]}")

    def need_community(self, label: int | None, where: str) -> None:
        if label is not None and self.exact and label not in self.communities():
            raise ConfigError(f"{where}: no community {label}")

    def chosen(self, choice: AgentChoice, where: str) -> int:
        """Check the choice; return how many agents it picks."""
        if choice.nodes:
            self.need_nodes(choice.nodes, f"{where}.nodes")
            return len(set(choice.nodes))
        self.need_community(choice.community, f"{where}.community")
        pool = (
            self.count
            if choice.community is None
            else sum(1 for c in self.community.values() if c == choice.community)
        )
        if not self.exact and choice.community is not None:
            pool = self.count
        return min(choice.count or int(round(choice.share * pool)), pool)


def check_events(scenario: Scenario, graph: nx.Graph, origin: str) -> None:
    """Every event names nodes and communities the society will have; some agent remains."""
    plan = _Plan(graph)
    order = sorted(range(len(scenario.events)), key=lambda i: scenario.events[i].round)
    for i in order:
        event = scenario.events[i]
        where = f"{origin}: events.{i}"
        if isinstance(event, Connect):
            for label in event.communities:
                plan.need_community(label, f"{where}.communities")
        elif isinstance(event, CutEdges):
            plan.need_nodes([n for edge in event.edges for n in edge], f"{where}.edges")
        elif isinstance(event, AddAgents):
            plan.need_community(event.community, f"{where}.community")
            for _ in range(event.count):
                plan.community[plan.next_node] = event.community if event.community else -1
                plan.next_node += 1
            plan.count += event.count
            plan.exact = plan.exact and event.community is not None
        elif isinstance(event, Migrate):
            plan.chosen(event, where)
            if event.nodes and plan.exact:
                for node in event.nodes:
                    plan.community[node] = event.to
            else:
                plan.exact = False
        elif isinstance(event, RemoveAgents):
            removed = plan.chosen(event, where)
            if event.nodes:
                for node in event.nodes:
                    plan.community.pop(node, None)
            else:
                plan.exact = False
            plan.count -= removed
            if plan.count <= 0:
                raise ConfigError(f"{where}: removes every agent (none would be left)")
        elif isinstance(event, Commit):
            plan.chosen(event, where)


def check_curation(scenario: Scenario, origin: str) -> list[str]:
    """Refuse filters that keep nothing by construction; warn about ones that keep little."""
    curation, out = scenario.curation, []
    if curation.max_words is not None and curation.min_words > curation.max_words:
        raise ConfigError(
            f"{origin}: curation.min_words: {curation.min_words} is above max_words "
            f"{curation.max_words}: nothing could ever be kept"
        )
    if curation.min_words > scenario.speech.max_tokens:
        message = (
            f"curation.min_words: {curation.min_words} is above speech.max_tokens "
            f"{scenario.speech.max_tokens}: no utterance can be kept"
        )
        changed = {"curation.min_words", "speech.max_tokens"}
        if any(isinstance(e, SetParameter) and e.key in changed for e in scenario.events):
            out.append(message)  # a later `set` may make it possible
        else:
            raise ConfigError(f"{origin}: {message} (a society that never hears itself)")
    return out


def load_sources(scenario: Scenario, origin: str) -> CommunitySources:
    """Load every real-data source once (cheap next to training), as one-line errors."""
    try:
        return CommunitySources.load(scenario.real_data)
    except CorpusError as error:
        field_ = getattr(error, "field", "real_data.source")
        raise ConfigError(f"{origin}: {field_}: {error}") from None


def corpus_warnings(sources: CommunitySources) -> list[str]:
    """Warn about a corpus with few training texts (legal, but its numbers mean little)."""
    out = []
    for corpus in sources.distinct():
        if len(corpus.train) < FEW_TEXTS:
            out.append(
                f"real_data: corpus {corpus.name} has {len(corpus.train)} training texts "
                f"(fewer than {FEW_TEXTS}): its measures will be noisy"
            )
    return out


def check_compute(scenario: Scenario, origin: str) -> None:
    """Shards need dask.distributed, and a named scheduler must answer."""
    compute = scenario.compute
    if not compute.shards:
        return
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise ConfigError(
            f"{origin}: compute.shards: needs the 'cluster' extra: pip install 'society[cluster]'"
        )
    if compute.scheduler != "local":
        from society.sim.shards import connect

        try:
            connect(compute, timeout="5s").close()
        except ConfigError as error:
            raise ConfigError(f"{origin}: {error}") from None


def preflight(
    scenario: Scenario,
    origin: str,
    out: Path | None = None,
    *,
    load_data: bool = True,
    local_files: bool = True,
) -> Checked:
    """Check a scenario (and its run directory) before anything is written or trained.

    Args:
        scenario: a validated scenario.
        origin: the scenario file, for error messages.
        out: the run directory to be (None: not checked).
        load_data: also load the corpus (to check it and to warn about its size).
        local_files: a checkpoint or corpus path this machine lacks is an error (True:
            a run); False (``society validate``): such paths are listed in ``missing``
            and what needs them (checkpoint and corpus checks) is skipped, the rest is
            checked.

    Returns:
        The graph (and corpus) it built, warnings about legal but suspicious input, and
        the missing local files (with ``local_files=False``).

    Raises:
        ConfigError: one line naming file and field.
    """
    missing = [] if local_files else missing_local_files(scenario)
    check_numbers(scenario, origin)
    check_paths(scenario, origin)
    check_compute(scenario, origin)
    if not missing:
        check_checkpoint(scenario, origin)
    if out is not None:
        check_out(out)
    graph = build_checked_graph(scenario, origin)
    check_model_communities(scenario, graph, origin)
    check_listeners(scenario, graph, origin)
    check_events(scenario, graph, origin)
    checked = Checked(graph, warnings=check_curation(scenario, origin), missing=missing)
    if load_data and not missing:
        checked.sources = load_sources(scenario, origin)
        if len(checked.sources.main.train) < 2:
            raise ConfigError(
                f"{origin}: real_data.source: leaves {len(checked.sources.main.train)} "
                "training text (need at least 2)"
            )
        checked.warnings.extend(corpus_warnings(checked.sources))
    return checked
