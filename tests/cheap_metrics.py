"""Scenario overrides that switch off the measurement suite's expensive parts in tests.

The suite has its own tests; tests of events, remedies, scenarios and the literature
results measure what they need themselves. Every key must be a field of MetricsConfig that
accepts the value: a renamed or removed field fails at import (naming this file) instead of
silently leaving the expensive measure on and the tests slow.
"""

from pydantic import ValidationError

from society.config import MetricsConfig

WANTED = {
    "classifier_agents": 0,
    "self_bleu_texts": 0,
    "dialect_null": 0,
    "mantel_permutations": 0,
    "expressions": 0,
    "ancestor_texts": 0,
    "cross_texts": 0,
    "cross_agents": 0,
    "embeddings": False,
}


def check(wanted: dict) -> None:
    """Raise if a key is not a MetricsConfig field or its value is refused.

    Raises:
        KeyError: a key MetricsConfig does not have.
        ValueError: a value MetricsConfig refuses.
    """
    unknown = sorted(set(wanted) - set(MetricsConfig.model_fields))
    if unknown:
        raise KeyError(f"tests/cheap_metrics.py: MetricsConfig has no field(s) {unknown}")
    try:
        MetricsConfig(**wanted)
    except ValidationError as error:
        raise ValueError(f"tests/cheap_metrics.py: MetricsConfig refuses {error}") from None


check(WANTED)


def cheap_metrics() -> dict:
    """``{"metrics.key": value}`` for every key of ``WANTED``."""
    return {f"metrics.{key}": value for key, value in WANTED.items()}
