"""Scenario files: pydantic models with a default for every key, TOML loading, overrides.

A scenario is plain data. ``load_scenario`` reads TOML, applies ``--set`` overrides and
validates; every problem becomes one ``ConfigError`` line ``FILE: field.path: reason``.

- ``base``: the error type, the strict base model, schedules;
- ``sections``: the tables (network, real data, speech, listening, curation, ...);
- ``language_model``: the ``[language_model]`` table, a union keyed on ``kind``;
- ``events``: the ``[[events]]`` actions;
- ``scenario``: the whole file, loading and overrides.
"""

from society.config.base import (
    BUILTIN_SOURCES,
    ConfigError,
    Section,
    check_schedule,
    schedule_value,
)
from society.config.events import (
    SETTABLE,
    SETTABLE_KEYS,
    AddAgents,
    AgentChoice,
    Commit,
    Connect,
    CutEdges,
    Event,
    IsolateCommunities,
    Migrate,
    RemoveAgents,
    SetParameter,
    settable_summary,
)
from society.config.language_model import LanguageModelConfig, NGramConfig, TransformerConfig
from society.config.scenario import (
    SECTIONS,
    Scenario,
    SetEventError,
    apply_set,
    flat_to_dotted,
    format_errors,
    load_scenario,
    parse_override,
    read_toml,
    resolve_paths,
    validate_scenario,
)
from society.config.sections import (
    CheckpointsConfig,
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

__all__ = [
    "AddAgents",
    "AgentChoice",
    "BUILTIN_SOURCES",
    "CheckpointsConfig",
    "Commit",
    "ConfigError",
    "Connect",
    "CurationConfig",
    "CutEdges",
    "Event",
    "IsolateCommunities",
    "LanguageModelConfig",
    "LearningConfig",
    "ListeningConfig",
    "MetricsConfig",
    "Migrate",
    "MutationConfig",
    "NGramConfig",
    "NetworkConfig",
    "RealDataConfig",
    "RemoveAgents",
    "SECTIONS",
    "SETTABLE",
    "SETTABLE_KEYS",
    "Scenario",
    "Section",
    "SelectionConfig",
    "SetEventError",
    "SetParameter",
    "SpeechConfig",
    "TokenizerConfig",
    "TransformerConfig",
    "apply_set",
    "check_schedule",
    "flat_to_dotted",
    "format_errors",
    "load_scenario",
    "parse_override",
    "read_toml",
    "resolve_paths",
    "schedule_value",
    "settable_summary",
    "validate_scenario",
]
