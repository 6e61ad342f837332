"""Scenario overrides that switch off the measurement suite's expensive parts in tests.

The suite has its own tests; tests of events, remedies, scenarios and the literature
results measure what they need themselves. Keys the suite does not have (or values it
does not accept) are skipped, so these overrides follow the suite as it changes.
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


def cheap_metrics() -> dict:
    """``{"metrics.key": value}`` for every wanted key that MetricsConfig accepts."""
    out = {}
    for key, value in WANTED.items():
        if key not in MetricsConfig.model_fields:
            continue
        try:
            MetricsConfig(**{key: value})
        except ValidationError:
            continue
        out[f"metrics.{key}"] = value
    return out
