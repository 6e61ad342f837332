"""Scenario files: pydantic models with a default for every key, TOML loading, overrides.

A scenario is plain data. ``load_scenario`` reads TOML, applies ``--set`` overrides and
validates; every problem becomes one ``ConfigError`` line ``FILE: field.path: reason``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

BUILTIN_SOURCES = ("kjv", "grammar")


class ConfigError(ValueError):
    """A scenario that cannot be used; the message is one line naming file and field."""


class Section(BaseModel):
    """Base for every scenario table: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NetworkConfig(Section):
    """Who listens to whom."""

    kind: Literal[
        "complete", "ring", "lattice", "small_world", "scale_free", "caveman", "sbm", "star", "file"
    ] = "caveman"
    agents: int = Field(8, ge=1, description="agents (complete, ring, lattice, small_world, ...)")
    communities: int = Field(2, ge=1, description="communities (caveman, sbm)")
    size: int = Field(4, ge=1, description="agents per community (caveman, sbm)")
    k: int = Field(4, ge=1, description="neighbours per node (small_world)")
    p: float = Field(0.1, ge=0, le=1, description="rewiring probability (small_world)")
    m: int = Field(2, ge=1, description="edges per new node (scale_free)")
    p_in: float = Field(0.9, ge=0, le=1, description="within-block edge probability (sbm)")
    p_out: float = Field(0.02, ge=0, le=1, description="between-block edge probability (sbm)")
    rows: int = Field(0, ge=0, description="lattice rows (0: most square)")
    cols: int = Field(0, ge=0, description="lattice columns (0: most square)")
    path: str | None = Field(None, description="graph file (GraphML, GML, edge list) for kind=file")
    weight: float = Field(1.0, gt=0, description="edge weight where the graph gives none")

    @model_validator(mode="after")
    def _file_needs_path(self) -> NetworkConfig:
        if self.kind == "file" and not self.path:
            raise ValueError("kind = 'file' needs path")
        return self


class LanguageModelConfig(Section):
    """Which language model each agent holds."""

    kind: Literal["ngram", "transformer"] = "ngram"
    order: int = Field(3, ge=1, le=6, description="n-gram order")
    discount: float = Field(0.75, gt=0, lt=1, description="Kneser-Ney absolute discount")
    memory: float = Field(
        0.0, ge=0, le=1, description="n-gram: share of previous counts kept when learning"
    )


class TokenizerConfig(Section):
    """The run's shared byte-level BPE tokenizer."""

    vocab_size: int = Field(2000, ge=300, le=65536)
    min_frequency: int = Field(2, ge=1)


class RealDataConfig(Section):
    """Real human text: the ancestor's training data, the held-out yardstick, the remedy."""

    source: str = Field("kjv", description="kjv | grammar | file, folder, JSONL, HF dataset")
    fraction: float = Field(0.0, ge=0, le=1, description="share of each round's data that is real")
    holdout: float = Field(0.1, gt=0, lt=1, description="share of texts never trained on")
    split_seed: int = Field(0, description="fixes the train/held-out split of the source")
    max_texts: int | None = Field(4000, ge=2, description="cap on texts read from the source")
    unit: Literal["sentence", "line", "paragraph"] = "sentence"
    text_field: str = "text"


class SpeechConfig(Section):
    """What agents say each round."""

    utterances: int = Field(100, ge=1)
    max_tokens: int = Field(40, ge=1)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    prompt: Literal["none", "real_prefix"] = "none"
    prefix_tokens: int = Field(4, ge=1, description="words of a real text used as prompt")


class ListeningConfig(Section):
    """Where agents gather their training text."""

    texts: int | None = Field(None, ge=1, description="texts gathered per round (utterances)")
    include_self: bool = Field(False, description="listen to one's own utterances too")
    self_weight: float = Field(1.0, gt=0, description="weight of one's own voice if included")


class CurationConfig(Section):
    """Filters on what an agent keeps."""

    dedup: bool = False
    min_words: int = Field(1, ge=0)
    max_words: int | None = Field(None, ge=1)


class LearningConfig(Section):
    """How the data buffer and the model are updated."""

    data: Literal["replace", "accumulate", "window"] = "replace"
    window: int = Field(3, ge=1, description="rounds kept when data = 'window'")
    init: Literal["continue", "ancestor"] = "continue"


class MetricsConfig(Section):
    """What is measured, and how often."""

    every: int = Field(1, ge=1, description="measure every k rounds (and the last)")
    pairs: Literal["auto", "all", "edges", "none"] = Field(
        "auto", description="pair table: all pairs, graph edges only, auto (all up to 200 agents)"
    )
    heldout_texts: int = Field(200, ge=1, description="held-out texts scored per agent")
    samples: bool = Field(True, description="write samples.jsonl")


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


class SetParameter(Section):
    """Change a scenario parameter mid-run, e.g. ``real_data.fraction``."""

    round: int = Field(ge=1)
    action: Literal["set"]
    key: str
    value: Any


Event = Annotated[
    IsolateCommunities | Connect | CutEdges | SetParameter, Field(discriminator="action")
]


class Scenario(Section):
    """A whole scenario: one TOML file."""

    name: str = "society"
    description: str = ""
    seed: int = 0
    rounds: int = Field(10, ge=0)
    network: NetworkConfig = NetworkConfig()
    language_model: LanguageModelConfig = LanguageModelConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    real_data: RealDataConfig = RealDataConfig()
    speech: SpeechConfig = SpeechConfig()
    listening: ListeningConfig = ListeningConfig()
    curation: CurationConfig = CurationConfig()
    learning: LearningConfig = LearningConfig()
    metrics: MetricsConfig = MetricsConfig()
    events: list[Event] = []

    @model_validator(mode="after")
    def _events_within_run(self) -> Scenario:
        for i, event in enumerate(self.events):
            if event.round > self.rounds:
                raise ValueError(f"events.{i}.round: {event.round} is after the last round")
        return self

    def to_toml(self) -> str:
        """Serialise with every default filled in (the run directory's ``config.toml``)."""
        return tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))

    def with_overrides(self, overrides: dict[str, Any], origin: str = "<overrides>") -> Scenario:
        """Return a copy with dotted-path overrides applied and re-validated."""
        data = self.model_dump(mode="json", exclude_none=True)
        for key, value in overrides.items():
            _set_path(data, key, value, origin)
        return validate_scenario(data, origin)


SECTIONS = tuple(
    name for name, f in Scenario.model_fields.items() if isinstance(f.default, BaseModel)
)


def _set_path(data: dict[str, Any], key: str, value: Any, origin: str) -> None:
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{origin}: {'.'.join(parts[: i + 1])}: no such list item")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                raise ConfigError(f"{origin}: {'.'.join(parts[: i + 1])}: is not a table")
    if isinstance(node, list):
        raise ConfigError(f"{origin}: {key}: cannot set a list item")
    node[parts[-1]] = value


def flat_to_dotted(name: str) -> str:
    """Map a flat keyword such as ``real_data_fraction`` to ``real_data.fraction``."""
    for section in sorted(SECTIONS, key=len, reverse=True):
        if name.startswith(section + "_"):
            return f"{section}.{name[len(section) + 1 :]}"
    return name


def _format_errors(error: ValidationError, origin: str) -> str:
    parts = []
    for err in error.errors():
        loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith("function-after"))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return f"{origin}: " + "; ".join(parts)


def validate_scenario(data: dict[str, Any], origin: str = "<scenario>") -> Scenario:
    """Validate a plain dict into a :class:`Scenario`, raising a one-line ConfigError."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, origin)) from None


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key.path=value``; the value is read as TOML, else kept as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected key.path=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


def _resolve_paths(data: dict[str, Any], base_dir: Path) -> None:
    real = data.get("real_data")
    if isinstance(real, dict) and isinstance(real.get("source"), str):
        src = real["source"]
        if src not in BUILTIN_SOURCES and not Path(src).is_absolute():
            real["source"] = str((base_dir / src).resolve())
    net = data.get("network")
    path = net.get("path") if isinstance(net, dict) else None
    if isinstance(path, str) and not Path(path).is_absolute():
        net["path"] = str((base_dir / path).resolve())


def load_scenario(
    path: str | Path, overrides: list[str] | None = None, seed: int | None = None
) -> Scenario:
    """Read, override and validate a scenario file.

    Args:
        path: the TOML file.
        overrides: ``key.path=value`` strings, applied before validation.
        seed: replaces the file's seed when given.

    Returns:
        The validated scenario, with relative data and graph paths made absolute.

    Raises:
        ConfigError: one line, ``FILE: field.path: reason``.
    """
    path = Path(path)
    origin = str(path)
    if not path.is_file():
        raise ConfigError(f"{origin}: scenario file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{origin}: invalid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{origin}: not UTF-8 text") from None
    for text in overrides or []:
        key, value = parse_override(text)
        _set_path(data, key, value, f"{origin} (--set {key})")
    if seed is not None:
        data["seed"] = seed
    _resolve_paths(data, path.resolve().parent)
    return validate_scenario(data, origin)
