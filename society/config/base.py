"""What every scenario table shares: the error type, the strict base model, schedules."""

from __future__ import annotations

import bisect
import re
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

BUILTIN_SOURCES = ("kjv", "grammar")


class ConfigError(ValueError):
    """A scenario that cannot be used; the message is one line naming file and field."""


class Section(BaseModel):
    """Base for every scenario table: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def check_integer_labels(value: Any) -> Any:
    """A ``communities`` table's keys must be community labels (integers); returns it as is.

    Raises:
        ValueError: naming the first key that is not an integer.
    """
    for label in value if isinstance(value, dict) else ():
        if isinstance(label, bool) or not re.fullmatch(r"-?\d+", str(label).strip()):
            raise ValueError(f"community label {label!r} is not an integer")
    return value


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
