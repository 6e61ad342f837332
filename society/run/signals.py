"""Stop a run cleanly on SIGTERM, SIGHUP or SIGINT: at a safe point, never mid-write.

``stop_on_signals`` turns each of those signals into :class:`Stopped`, raised in the main
thread where the run is; inside ``critical()`` (a round being written) the signal is held
and raised when the section ends, so no file is left half written.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)
)


class Stopped(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error of the run
    """The run was asked to stop by a signal.

    Args:
        signum: the signal's number.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")


_state = {"depth": 0, "pending": None}


def _handler(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
    if _state["depth"]:
        _state["pending"] = signum
        return
    raise Stopped(signum)


@contextmanager
def critical() -> Iterator[None]:
    """Hold signals while the block runs; raise a held one when it ends."""
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
    pending = _state["pending"]
    if pending is not None and not _state["depth"]:
        _state["pending"] = None
        raise Stopped(pending)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Raise :class:`Stopped` on SIGTERM/SIGHUP/SIGINT while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _handler) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _state["pending"] = None
