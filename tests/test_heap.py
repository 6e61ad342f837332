"""Freed small arrays' pages go back to the system once the heap is trimmed (glibc)."""

import os

import numpy as np
import pytest

from society.sim.heap import trim_heap


def resident() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_trimming_returns_the_pages_of_freed_small_arrays():
    if not trim_heap():
        pytest.skip("the C library has no malloc_trim")
    arrays = [np.ones(2500) for _ in range(40_000)]  # 20 KB each, 800 MB: heap, not mmap
    fence = np.ones(2500)  # above them: the heap's top cannot shrink by itself
    held = resident()
    arrays.clear()
    freed = resident()
    assert trim_heap()
    assert resident() < min(freed, held) - 300e6
    assert fence.sum() == 2500
