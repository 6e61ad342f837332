"""Cyclic garbage collection paused inside a round and run once after it.

A round allocates millions of small containers (token tuples, logged utterances, heard
lists); CPython's collector would scan the whole heap a dozen times per round to find the
few cycles among them (about 2 s of a 40 s 1,000-agent run). Reference counting still
frees everything that is not a cycle at once, so pausing the collector only delays the
cycles to the one collection at the end.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def collected_after(method: Callable[P, R]) -> Callable[P, R]:
    """Run ``method`` with the cyclic collector paused, then collect once (if it was on)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():  # nested, or the caller manages the collector
            return method(*args, **kwargs)
        gc.disable()
        try:
            return method(*args, **kwargs)
        finally:
            gc.enable()
            gc.collect()

    return wrapper
