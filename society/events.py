"""Scheduled changes to a living society (``[[events]]`` in a scenario).

Every graph edit goes through the Mesa ``Network`` space so that cells and the NetworkX
graph stay in step. Each applied event is appended to ``model.event_log``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from society.config import Connect, CutEdges, IsolateCommunities, SetParameter
from society.network import between_community_edges, community_members

if TYPE_CHECKING:
    from society.model import Society


def remove_edge(model: Society, u: int, v: int) -> None:
    """Remove one edge from the space and its graph."""
    if model.graph.has_edge(u, v):
        model.space.remove_connection(model.space[u], model.space[v])


def add_edge(model: Society, u: int, v: int, weight: float) -> None:
    """Add (or re-weight) one edge in the space and its graph."""
    if not model.graph.has_edge(u, v):
        model.space.add_connection(model.space[u], model.space[v])
    model.graph.edges[u, v]["weight"] = weight


def isolate_communities(model: Society, event: IsolateCommunities) -> str:
    """Remove every edge between communities."""
    edges = between_community_edges(model.graph)
    for u, v in edges:
        remove_edge(model, u, v)
    return f"removed {len(edges)} between-community edges"


def connect(model: Society, event: Connect) -> str:
    """Add ``bridges`` new edges between two communities (random members, seeded)."""
    members = community_members(model.graph)
    a, b = event.communities
    for name in (a, b):
        if name not in members:
            raise ValueError(f"events: connect: no community {name}")
    candidates = [(u, v) for u in members[a] for v in members[b] if not model.graph.has_edge(u, v)]
    count = min(event.bridges, len(candidates))
    picked = model.rng.choice(len(candidates), size=count, replace=False) if count else []
    for i in sorted(int(i) for i in picked):
        add_edge(model, *candidates[i], weight=event.weight)
    return f"added {count} bridges between communities {a} and {b}"


def cut_edges(model: Society, event: CutEdges) -> str:
    """Remove the listed edges (absent ones are ignored)."""
    present = [(u, v) for u, v in event.edges if model.graph.has_edge(u, v)]
    for u, v in present:
        remove_edge(model, u, v)
    return f"removed {len(present)} edges"


def set_parameter(model: Society, event: SetParameter) -> str:
    """Change a scenario parameter mid-run (re-validated)."""
    model.scenario = model.scenario.with_overrides(
        {event.key: event.value}, origin=f"events (round {event.round})"
    )
    return f"set {event.key} = {event.value!r}"


HANDLERS = {
    "isolate_communities": isolate_communities,
    "connect": connect,
    "cut_edges": cut_edges,
    "set": set_parameter,
}


def apply_events(model: Society, round_: int) -> None:
    """Apply, in file order, every event scheduled for ``round_``."""
    for event in model.scenario.events:
        if event.round == round_:
            detail = HANDLERS[event.action](model, event)
            model.event_log.append({"round": round_, "action": event.action, "detail": detail})
