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

import atexit
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
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
    # Stopped, the worker has nothing to flush or close: exit without freeing its heap
    # object by object (the interpreter's teardown took ~0.6 s of a 1,000-agent run's end).
    atexit.register(os._exit, 0)
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

    The worker is handed one call at a time, by a feeder thread, in the order submitted;
    calls it has not started stay here, so this process can take them back (``Job.result``
    computes its own call, or while it waits the last one queued: the two processes
    share the round's work however long each call turns out to be).

    Args:
        enabled: False runs every submitted function here, at submission.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._pool: ProcessPoolExecutor | None = None
        self._queue: deque[Job] = deque()  # submitted, not yet handed to the worker
        self._ready = threading.Condition()
        self._feeder: threading.Thread | None = None

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
            self._feeder = threading.Thread(target=self._feed, args=(self._pool,), daemon=True)
            self._feeder.start()

    def submit(self, fn: Callable[..., Any], *args: Any, takeable: bool = True) -> Job:
        """``fn(*args)``, computed by the worker (or here when it cannot be).

        ``fn`` and ``args`` must pickle (a module-level function, plain data). ``takeable``:
        its result computes it here if the worker has not started it (False for work that
        would cost this process more than waiting, e.g. an import).
        """
        self.start()
        if self._pool is None:
            return Job(_done(fn, args), fn, args, self, takeable)
        job = Job(Future(), fn, args, self, takeable)
        with self._ready:
            self._queue.append(job)
            self._ready.notify()
        return job

    def _feed(self, pool: ProcessPoolExecutor) -> None:
        """The feeder thread: hand the queued calls to ``pool`` one at a time."""
        while True:
            with self._ready:
                while not self._queue and self._pool is pool:
                    self._ready.wait()
                if not self._queue:  # closed or lost, nothing left
                    return
                job = self._queue.popleft()
                job.future.set_running_or_notify_cancel()
            try:
                if self._pool is not pool:
                    raise BrokenProcessPool("the worker was stopped")
                value = pool.submit(job.fn, *job.args).result()
            except BaseException as error:  # noqa: BLE001 - handed to whoever takes the result
                job.future.set_exception(error)
            else:
                job.future.set_result(value)

    def take(self, job: Job | None = None) -> Job | None:
        """Claim ``job`` (or, with None, the last takeable call queued) to compute here.

        Returns:
            The claimed job, now running here; None if the worker has it or nothing is left.
        """
        with self._ready:
            if job is None:
                job = next((j for j in reversed(self._queue) if j.takeable), None)
            if job is None or job not in self._queue:
                return None
            self._queue.remove(job)
            job.future.set_running_or_notify_cancel()
            return job

    def lost(self) -> None:
        """The worker died or cannot take work: compute everything here from now on."""
        self.enabled = False
        pool, self._pool = self._pool, None
        with self._ready:
            self._ready.notify_all()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the worker (waiting for what it is computing); later work starts a new one."""
        pool, self._pool = self._pool, None
        with self._ready:
            for job in self._queue:  # nobody will take them: computed on demand
                job.future.cancel()
            self._queue.clear()
            self._ready.notify_all()
        if self._feeder is not None:
            self._feeder.join()
            self._feeder = None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __getstate__(self) -> dict[str, Any]:
        return {"enabled": self.enabled}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["enabled"])


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
        if the worker has died. While the worker computes it, this process computes the
        last takeable calls queued behind it.
        """
        if self.takeable and self.side.take(self) is not None:
            self.run_here()
        while not self.future.done():
            other = self.side.take()
            if other is None:
                break
            other.run_here()
        try:
            return self.future.result()
        except BrokenProcessPool:
            self.side.lost()
            return self.fn(*self.args)
        except CancelledError:  # closed before the worker took it
            return self.fn(*self.args)

    def run_here(self) -> None:
        """Compute the call in this process into its future (it was claimed by ``take``)."""
        try:
            self.future.set_result(self.fn(*self.args))
        except Exception as error:  # noqa: BLE001 - handed to whoever takes the result
            self.future.set_exception(error)
