"""A whole scenario: TOML loading, ``--set`` overrides, validation into one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, Field, ValidationError, model_validator

from society.config.base import BUILTIN_SOURCES, ConfigError, Section
from society.config.events import SETTABLE_KEYS, Event, SetParameter, settable_summary
from society.config.language_model import LanguageModelConfig, NGramConfig, explicit_keys
from society.config.sections import (
    CheckpointsConfig,
    ComputeConfig,
    CurationConfig,
    LearningConfig,
    ListeningConfig,
    MetricsConfig,
    MutationConfig,
    NetworkConfig,
    RealDataConfig,
    SelectionConfig,
    SpeechConfig,
    TokenizerConfig,
)


class Scenario(Section):
    """A whole scenario: one TOML file."""

    name: str = "society"
    description: str = ""
    seed: int = 0
    rounds: int = Field(10, ge=0)
    network: NetworkConfig = NetworkConfig()
    language_model: LanguageModelConfig = NGramConfig()
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
    compute: ComputeConfig = ComputeConfig()
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
    def _shards_hold_ngrams(self) -> Scenario:
        if self.compute.shards and self.language_model.kind != "ngram":
            raise ValueError("compute.shards: only n-gram agents run in shards")
        return self

    @model_validator(mode="after")
    def _events_within_run(self) -> Scenario:
        for i, event in enumerate(self.events):
            if event.round > self.rounds:
                raise ValueError(f"events.{i}.round: {event.round} is after the last round")
        return self

    @model_validator(mode="after")
    def _set_events_apply(self) -> Scenario:
        """Each ``set`` event changes a settable key to a value the scenario accepts.

        The events are applied as the run will apply them (by round, then in file order),
        each to the scenario as the earlier ones left it, so a file that loads never fails
        at a ``set`` mid-run.
        """
        state = self
        for i in sorted(range(len(self.events)), key=lambda i: self.events[i].round):
            event = self.events[i]
            if isinstance(event, SetParameter):
                try:
                    state = apply_set(state, event.key, event.value)
                except SetEventError as error:
                    raise ValueError(f"events.{i}.{error.field}: {error}") from None
        return self

    def to_toml(self) -> str:
        """Serialise with every default filled in (the run directory's ``config.toml``)."""
        return tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))

    def with_overrides(self, overrides: dict[str, Any], origin: str = "<overrides>") -> Scenario:
        """Return a copy with dotted-path overrides applied and re-validated.

        ``[language_model]`` starts from its non-default keys only, so an override of
        ``language_model.kind`` drops the old kind's defaults (its other keys stay, and are
        unknown keys of the new kind).
        """
        data = self.model_dump(mode="json", exclude_none=True)
        data["language_model"] = explicit_keys(self.language_model)
        for key, value in overrides.items():
            _set_path(data, key, value, origin)
        return validate_scenario(data, origin)


class SetEventError(ValueError):
    """A ``set`` that cannot apply; ``field`` says which part is wrong: ``key`` or ``value``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def apply_set(scenario: Scenario, key: str, value: Any) -> Scenario:
    """The scenario after a ``set`` event: the one way a living scenario changes.

    Args:
        scenario: the scenario as it is.
        key: a dotted key of ``SETTABLE`` (``society.config.events``).
        value: its new value.

    Returns:
        A re-validated copy with ``key`` changed and the same events.

    Raises:
        SetEventError: ``key`` is not settable, or the scenario refuses ``value``.
    """
    if key not in SETTABLE_KEYS:
        raise SetEventError(
            "key", f"{key!r} cannot change mid-run (settable: {settable_summary()})"
        )
    section, name = key.split(".")
    data = scenario.model_dump(mode="json", exclude_none=True, exclude={"events"})
    data[section][name] = value
    try:
        changed = Scenario.model_validate(data)
    except ValidationError as error:
        reason = "; ".join(
            msg if loc in ("", key) else f"{loc}: {msg}" for loc, msg in _errors(error)
        )
        raise SetEventError("value", f"{key} = {value!r}: {reason}") from None
    return changed.model_copy(update={"events": scenario.events})


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


def _errors(error: ValidationError) -> list[tuple[str, str]]:
    """Each problem as ``(dotted location, reason)``; the location is empty for the model."""
    out = []
    for err in error.errors():
        loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith("function-after"))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        out.append((loc, msg))
    return out


def format_errors(error: ValidationError, origin: str) -> str:
    """A pydantic error as one line: ``ORIGIN: field.path: reason; ...``."""
    return f"{origin}: " + "; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in _errors(error))


def validate_scenario(data: dict[str, Any], origin: str = "<scenario>") -> Scenario:
    """Validate a plain dict into a :class:`Scenario`, raising a one-line ConfigError."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_errors(error, origin)) from None


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
    if not isinstance(value, str) or not value.strip():  # empty: refused by preflight
        return
    if value not in keep and not Path(value).is_absolute():
        table[key] = str((base_dir / value).resolve())


def resolve_paths(data: dict[str, Any], base_dir: Path) -> None:
    """Make the relative path values of nested scenario data absolute against ``base_dir``.

    Real-data sources (built-in names stay), the graph file, every language-model
    checkpoint and the curation labels.
    """
    real = data.get("real_data")
    _resolve_entry(real, "source", base_dir, keep=BUILTIN_SOURCES)
    by_community = real.get("communities") if isinstance(real, dict) else None
    for label in list(by_community) if isinstance(by_community, dict) else ():
        _resolve_entry(by_community, label, base_dir, keep=BUILTIN_SOURCES)
    _resolve_entry(data.get("network"), "path", base_dir)
    model = data.get("language_model")
    _resolve_entry(model, "path", base_dir)
    by_community = model.get("communities") if isinstance(model, dict) else None
    for table in by_community.values() if isinstance(by_community, dict) else ():
        _resolve_entry(table, "path", base_dir)
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
    resolve_paths(data, path.resolve().parent)
    return validate_scenario(data, origin)
