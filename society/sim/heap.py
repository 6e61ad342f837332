"""Give the process's freed heap memory back to the operating system (glibc only).

Small arrays (an agent's n-gram tables are thousands of arrays of a few KB each) live in
the C heap; freeing them leaves the pages with the process, and the big arrays allocated
next are mapped afresh, so the resident size never falls. ``malloc_trim(0)`` returns the
free pages inside the heap: after a 10,000-agent society drops its tables (1.3 GB) this is
what lets the round's peak fall. Elsewhere (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():  # noqa: ANN202 - a ctypes function or None
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def trim_heap() -> bool:
    """Return free heap pages to the system; whether the C library could (glibc)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
