"""``[[events]]``: scheduled changes to a living society, one model per action."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from society.config.base import Section


class IsolateCommunities(Section):
    """Remove every edge between communities."""

    round: int = Field(ge=1)
    action: Literal["isolate_communities"]


class Connect(Section):
    """Add bridges between two communities."""

    round: int = Field(ge=1)
    action: Literal["connect"]
    communities: tuple[int, int] = (0, 1)
    bridges: int = Field(1, ge=1)
    weight: float = Field(1.0, gt=0)


class CutEdges(Section):
    """Remove the listed edges."""

    round: int = Field(ge=1)
    action: Literal["cut_edges"]
    edges: list[tuple[int, int]]


#: The keys a ``set`` event may change, by section: exactly those that the round loop reads
#: from the living scenario (``Society.scenario``) every round, so a change takes effect at
#: once and everywhere. Everything else is read once, when the society is built (the graph,
#: corpus, tokenizer, models, measurement suite, buffers, rounds), and a change would be
#: silently ignored or half-applied; ``load_scenario`` refuses it.
SETTABLE: dict[str, tuple[str, ...]] = {
    "real_data": ("fraction", "schedule", "interpolate"),  # the share of real text heard
    "speech": (  # every agent's sampling request
        "utterances",
        "max_tokens",
        "temperature",
        "top_p",
        "prompt",
        "prefix_tokens",
        "top_k",
        "min_p",
        "repetition_penalty",
    ),
    "listening": ("texts", "include_self", "self_weight"),  # what each listener draws
    "curation": (  # every listener's filters (not critic_order: the critic is built once)
        "dedup",
        "min_words",
        "max_words",
        "critic",
        "max_perplexity",
        "keep_best",
        "verifier_accuracy",
        "verifier_quantile",
        "unlabelled",
    ),
    "selection": ("by", "strength"),  # who is heard preferentially
    "mutation": ("temperature_schedule", "interpolate", "token_noise"),  # what speech becomes
    "learning": ("init",),  # continue or relearn from the ancestor (not data/window: buffers)
    "checkpoints": ("every",),  # which rounds the runner saves
}
SETTABLE_KEYS = frozenset(f"{section}.{key}" for section, keys in SETTABLE.items() for key in keys)


def settable_summary() -> str:
    """The settable keys in one line: ``real_data.{fraction, schedule, ...}, speech.{...}``."""
    return ", ".join(f"{section}.{{{', '.join(keys)}}}" for section, keys in SETTABLE.items())


class SetParameter(Section):
    """Change a scenario parameter mid-run, e.g. ``real_data.fraction`` (see ``SETTABLE``)."""

    round: int = Field(ge=1)
    action: Literal["set"]
    key: str
    value: Any


class AgentChoice(Section):
    """Which agents an event acts on: listed nodes, or a seeded random draw."""

    nodes: list[int] = Field([], description="these graph nodes")
    count: int = Field(0, ge=0, description="or this many random agents")
    share: float = Field(0.0, ge=0, le=1, description="or this share of the agents")
    community: int | None = Field(None, description="draw from this community (default: all)")

    @model_validator(mode="after")
    def _one_choice(self) -> AgentChoice:
        given = [bool(self.nodes), self.count > 0, self.share > 0]
        if sum(given) != 1:
            raise ValueError("give exactly one of nodes, count or share")
        return self


class Migrate(AgentChoice):
    """Move agents to another community: drop their edges, link them to its members."""

    round: int = Field(ge=1)
    action: Literal["migrate"]
    to: int = Field(description="the community they join")
    links: int | None = Field(None, ge=1, description="new edges each (default: old degree)")
    weight: float = Field(1.0, gt=0)


class AddAgents(Section):
    """Newcomers join a community; like children, they first learn from their neighbours."""

    round: int = Field(ge=1)
    action: Literal["add_agents"]
    count: int = Field(1, ge=1)
    community: int | None = Field(
        None, description="the community they join (default: that of their first neighbour)"
    )
    links: int = Field(2, ge=1, description="edges to random members of that community")
    weight: float = Field(1.0, gt=0)
    init: Literal["blank", "ancestor"] = Field(
        "blank", description="blank: learn only from neighbours' speech; ancestor: generation 0"
    )


class RemoveAgents(AgentChoice):
    """Agents leave the society (their node and edges go with them)."""

    round: int = Field(ge=1)
    action: Literal["remove_agents"]


class Commit(AgentChoice):
    """A committed minority: these agents keep speaking but stop learning."""

    round: int = Field(ge=1)
    action: Literal["commit"]
    rewrite: dict[str, str] = Field(
        {}, description="word -> replacement in their own data before they freeze (a dialect)"
    )


Event = Annotated[
    IsolateCommunities
    | Connect
    | CutEdges
    | SetParameter
    | Migrate
    | AddAgents
    | RemoveAgents
    | Commit,
    Field(discriminator="action"),
]
