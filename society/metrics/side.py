"""A second process for the self-contained work of some measures.

Most of a round's measuring runs on one core. The real-vs-generated classifier and
self-BLEU are pure functions of a few agents' texts and seeds, so they are sent to one
worker process when the round's measuring starts (``Measure.prepare``) and their results
taken when their turn comes; meanwhile this process computes the other measures. The
worker also imports scikit-learn (about a second) while the society is being built.

The same function runs on the same arguments, so the numbers are the ones computed
in-process (tested). Where a process cannot be started (a daemonic sweep worker, a
``[metrics] side_process = false`` scenario) or the worker dies, the work runs here.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

ORPHAN_CHECK_S = 1.0
"""How often the worker checks that the process it works for still runs."""


def _quiet_worker(parent: int) -> None:
    """The worker's start: ignore Ctrl-C, watch ``parent``, import scikit-learn.

    The main process stops the worker at the end; killed, it cannot, so the worker ends
    itself once ``parent`` has gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    # The classifier's imports and first fit (~1.5 s), before the first round needs them.
    from society.metrics.classifier import real_vs_generated_accuracy

    real_vs_generated_accuracy(["a b", "b c"] * 5, ["c d", "d e"] * 5)


@contextmanager
def _no_main_module() -> Iterator[None]:
    """Hide ``__main__`` while the worker starts, so that it does not run it again.

    A spawned process imports the parent's main script (as ``__mp_main__``), which re-runs
    a script that builds a society at top level (no ``if __name__ == "__main__"``). The
    worker needs nothing from it: its calls are module-level functions of this package.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _end_with(parent: int) -> None:
    """End this process once ``parent`` has ended (this process is then someone else's)."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(0)


def _done(fn: Callable[..., Any], args: tuple[Any, ...]) -> Future:
    """A future already holding ``fn(*args)`` (or the error it raised)."""
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except Exception as error:  # noqa: BLE001 - handed to whoever takes the result
        future.set_exception(error)
    return future


class SideProcess:
    """One worker process (started on first use) that computes submitted functions.

    Args:
        enabled: False runs every submitted function here, at submission.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the worker now (it imports what the measures need while the run builds)."""
        if self.enabled and self._pool is None:
            if multiprocessing.current_process().daemon:  # may not have children
                self.enabled = False
                return
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                1, mp_context=context, initializer=_quiet_worker, initargs=(os.getpid(),)
            )
            with _no_main_module():  # the worker starts with this first job
                self._pool.submit(int)

    def submit(self, fn: Callable[..., Any], *args: Any, takeable: bool = True) -> Job:
        """``fn(*args)``, computed by the worker (or here when it cannot be).

        ``fn`` and ``args`` must pickle (a module-level function, plain data). ``takeable``:
        its result computes it here if the worker has not started it (False for work that
        would cost this process more than waiting, e.g. an import).
        """
        self.start()
        if self._pool is None:
            return Job(_done(fn, args), fn, args, self, takeable)
        try:
            return Job(self._pool.submit(fn, *args), fn, args, self, takeable)
        except (BrokenProcessPool, RuntimeError):
            self.lost()
            return Job(_done(fn, args), fn, args, self, takeable)

    def lost(self) -> None:
        """The worker died or cannot take work: compute everything here from now on."""
        self.enabled = False
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the worker (waiting for what it is computing); later work starts a new one."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __getstate__(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "_pool": None}


class Job:
    """One submitted function call; :meth:`result` waits for it."""

    def __init__(
        self,
        future: Future,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        side: SideProcess,
        takeable: bool = True,
    ) -> None:
        self.future, self.fn, self.args, self.side = future, fn, args, side
        self.takeable = takeable

    def result(self) -> Any:
        """The call's value (its error raised here).

        Computed here if the worker has not started it yet and it is ``takeable`` (rather
        than waiting for the calls before it: the same value, from the same arguments), or
        if the worker has died.
        """
        if self.takeable and self.future.cancel():
            return self.fn(*self.args)
        try:
            return self.future.result()
        except BrokenProcessPool:
            self.side.lost()
            return self.fn(*self.args)
