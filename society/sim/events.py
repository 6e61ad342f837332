"""Scheduled changes to a living society (``[[events]]`` in a scenario).

Every graph edit goes through the Mesa ``Network`` space so that cells and the NetworkX
graph stay in step. Each applied event is appended to ``model.event_log`` (the run
directory's ``events.json``) with its parameters and what it did.

Events act at the start of their round, before anyone listens: what agents hear in that
round is what the (remaining) agents said in the previous one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from society.config import (
    AddAgents,
    AgentChoice,
    Commit,
    ConfigError,
    Connect,
    CutEdges,
    IsolateCommunities,
    Migrate,
    RemoveAgents,
    SetEventError,
    SetParameter,
    apply_set,
)
from society.config.language_model import table_for
from society.lm.factory import build_language_model
from society.sim.agents import Speaker
from society.sim.network import between_community_edges, community_members

if TYPE_CHECKING:
    from society.sim.world import Editable


class EventError(ConfigError):
    """An event that cannot apply to the society as it is (one line, names the event)."""


def remove_edge(model: Editable, u: int, v: int) -> None:
    """Remove one edge from the space and its graph."""
    if model.graph.has_edge(u, v):
        model.space.remove_connection(model.space[u], model.space[v])


def add_edge(model: Editable, u: int, v: int, weight: float) -> None:
    """Add (or re-weight) one edge in the space and its graph."""
    if not model.graph.has_edge(u, v):
        model.space.add_connection(model.space[u], model.space[v])
    model.graph.edges[u, v]["weight"] = weight


def choose_agents(model: Editable, choice: AgentChoice, where: str) -> list[Speaker]:
    """The agents an event names: listed nodes, or a seeded draw of ``count`` or ``share``.

    Args:
        model: the society.
        choice: the event's ``nodes`` / ``count`` / ``share`` / ``community`` fields.
        where: the event, for error messages.

    Returns:
        The chosen agents, ordered by node.

    Raises:
        EventError: a listed node has no agent, or the community does not exist.
    """
    by_node = {agent.node: agent for agent in model.agents}
    if choice.nodes:
        missing = [n for n in choice.nodes if n not in by_node]
        if missing:
            raise EventError(f"{where}: nodes: no agent on node {missing[0]}")
        return [by_node[n] for n in sorted(set(choice.nodes))]
    pool = sorted(by_node)
    if choice.community is not None:
        pool = community_members(model.graph).get(choice.community, [])
        if not pool:
            raise EventError(f"{where}: community: no community {choice.community}")
    count = choice.count or int(round(choice.share * len(pool)))
    picked = model.rng.choice(len(pool), size=min(count, len(pool)), replace=False)
    return [by_node[pool[i]] for i in sorted(int(i) for i in picked)]


def _where(event: Any) -> str:
    return f"events (round {event.round}, {event.action})"


def isolate_communities(model: Editable, event: IsolateCommunities) -> str:
    """Remove every edge between communities."""
    edges = between_community_edges(model.graph)
    for u, v in edges:
        remove_edge(model, u, v)
    return f"removed {len(edges)} between-community edges"


def connect(model: Editable, event: Connect) -> str:
    """Add ``bridges`` new edges between two communities (random members, seeded)."""
    members = community_members(model.graph)
    a, b = event.communities
    for name in (a, b):
        if name not in members:
            raise EventError(f"{_where(event)}: communities: no community {name}")
    candidates = [(u, v) for u in members[a] for v in members[b] if not model.graph.has_edge(u, v)]
    count = min(event.bridges, len(candidates))
    picked = model.rng.choice(len(candidates), size=count, replace=False) if count else []
    for i in sorted(int(i) for i in picked):
        add_edge(model, *candidates[i], weight=event.weight)
    return f"added {count} bridge{'' if count == 1 else 's'} between communities {a} and {b}"


def cut_edges(model: Editable, event: CutEdges) -> str:
    """Remove the listed edges (absent ones are ignored)."""
    present = [(u, v) for u, v in event.edges if model.graph.has_edge(u, v)]
    for u, v in present:
        remove_edge(model, u, v)
    return f"removed {len(present)} edges"


def set_parameter(model: Editable, event: SetParameter) -> str:
    """Change a settable scenario key mid-run (``society.config.apply_set``, re-validated).

    Stages read the settable keys from ``model.scenario`` every round, so the new value
    takes effect from this round on.
    """
    try:
        model.scenario = apply_set(model.scenario, event.key, event.value)
    except SetEventError as error:
        raise EventError(f"{_where(event)}: {error.field}: {error}") from None
    return f"set {event.key} = {event.value!r}"


def _link(model: Editable, node: int, pool: list[int], links: int, weight: float) -> list[int]:
    """Join ``node`` to ``links`` random members of ``pool`` (seeded); return them."""
    count = min(links, len(pool))
    targets = [pool[int(i)] for i in model.rng.choice(len(pool), size=count, replace=False)]
    for target in targets:
        add_edge(model, node, target, weight)
    return targets


def migrate(model: Editable, event: Migrate) -> str:
    """Move agents to community ``to``: drop every edge they had, link them to its members.

    When ``to`` has no members yet, the movers found it: they are linked to each other only
    (a clique when ``links`` is unset), cut off from everyone else (a founder group).
    """
    movers = choose_agents(model, event, _where(event))
    moving = sorted(agent.node for agent in movers)
    pool = [n for n in community_members(model.graph).get(event.to, []) if n not in moving]
    founders = not pool
    if founders and len(moving) < 2:
        raise EventError(f"{_where(event)}: to: community {event.to} has no members to join")
    degrees = {agent.node: model.graph.degree(agent.node) for agent in movers}
    for agent in movers:
        for other in list(model.graph.neighbors(agent.node)):
            remove_edge(model, agent.node, other)
    for agent in movers:
        model.graph.nodes[agent.node]["community"] = event.to
        agent.community = event.to
        if founders:
            others = [n for n in moving if n != agent.node]
            _link(model, agent.node, others, event.links or len(others), event.weight)
        else:
            _link(model, agent.node, pool, event.links or max(degrees[agent.node], 1), event.weight)
    what = "founded" if founders else "moved to"
    return f"nodes {moving} {what} community {event.to}"


def add_agents(model: Editable, event: AddAgents) -> str:
    """Add newcomers; each listens to its new neighbours and learns before it first speaks.

    A ``blank`` newcomer starts with an untrained model, so everything it knows comes from
    what its neighbours said last round (like a child); an ``ancestor`` newcomer starts from
    generation 0 of the community it joins (``Society.ancestor_for``).
    """
    members = community_members(model.graph)
    if event.community is not None and event.community not in members:
        raise EventError(f"{_where(event)}: community: no community {event.community}")
    pool = members[event.community] if event.community is not None else sorted(model.graph)
    added = []
    for _ in range(event.count):
        node = max(model.graph.nodes, default=-1) + 1
        cell = model.space.cell_klass(node, None, random=model.space.random)
        model.space.add_cell(cell)
        targets = _link(model, node, pool, event.links, event.weight)
        community = event.community
        if community is None:
            community = int(model.graph.nodes[targets[0]].get("community", 0))
        model.graph.nodes[node]["community"] = community
        if event.init == "ancestor":
            lm = model.ancestor_for(community).clone()
            data = model.ancestor_texts(model.corpus_for(community))
            agent = Speaker(model, cell, lm, community, data)
        else:
            table = table_for(model.scenario.language_model, community)
            blank = build_language_model(table, model.tokenizer)
            agent = Speaker(model, cell, blank, community, [])
            agent.buffer.clear()
        agent.listen(model.attention)  # last round's selection factors
        model.record_kept(agent.heard, agent.curate(model.curator))
        agent.learn()
        agent.speak()
        added.append(node)
    return f"added nodes {added}"


def remove_agents(model: Editable, event: RemoveAgents) -> str:
    """Remove agents together with their nodes and edges."""
    leaving = choose_agents(model, event, _where(event))
    for agent in leaving:
        cell = agent.cell
        agent.remove()
        model.space.remove_cell(cell)
    return f"removed nodes {[agent.node for agent in leaving]}"


def rewrite_words(texts: Iterable[str], mapping: dict[str, str]) -> list[str]:
    """Replace whole words (case-insensitive; a capital first letter is kept).

    Args:
        texts: the texts.
        mapping: ``{word: replacement}``.

    Returns:
        The rewritten texts.
    """
    if not mapping:
        return list(texts)
    lower = {k.lower(): v for k, v in mapping.items()}
    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in lower) + r")\b", re.IGNORECASE)

    def replace(match: re.Match[str]) -> str:
        new = lower[match.group(0).lower()]
        return new[:1].upper() + new[1:] if match.group(0)[:1].isupper() else new

    return [pattern.sub(replace, text) for text in texts]


def commit(model: Editable, event: Commit) -> str:
    """Freeze agents: they keep speaking but stop learning (a committed minority).

    With ``rewrite``, each committed agent first relearns, from the ancestor, its own data
    with those words replaced, so the minority is committed to a distinct dialect.
    """
    chosen = choose_agents(model, event, _where(event))
    for agent in chosen:
        if event.rewrite:
            data = rewrite_words((t for texts in agent.buffer for t in texts), event.rewrite)
            agent.restart()
            agent.lm.update(data)
        agent.learning = False
    return f"committed nodes {[agent.node for agent in chosen]}"


HANDLERS = {
    "isolate_communities": isolate_communities,
    "connect": connect,
    "cut_edges": cut_edges,
    "set": set_parameter,
    "migrate": migrate,
    "add_agents": add_agents,
    "remove_agents": remove_agents,
    "commit": commit,
}


def apply_events(model: Editable, round_: int) -> None:
    """Apply, in file order, every event scheduled for ``round_`` and log it."""
    for event in model.scenario.events:
        if event.round == round_:
            detail = HANDLERS[event.action](model, event)
            model.event_log.append(
                {
                    "round": round_,
                    "action": event.action,
                    "detail": detail,
                    "event": event.model_dump(mode="json"),
                }
            )
