"""Leaving the ``society`` process without tearing the interpreter down.

At a normal exit Python frees every object it still holds: after a 1,000-agent run that is
millions of small objects (models' arrays, tokenised texts, cached encodings) and takes
about 1.5 s, longer than some commands. Nothing in that teardown writes anything: every
file the commands write is closed (and most fsync'ed) before they return. :func:`leave`
does what an exit must (``atexit`` handlers, which also stop logging, dask and
multiprocessing; flushing the standard streams) and then ends the process at once.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def exit_status(code: object) -> int:
    """The process status ``sys.exit(code)`` gives (printing a non-int code like Python).

    Args:
        code: a ``SystemExit.code``: None (0), an int, or anything else (printed, 1).
    """
    if code is None:
        return 0
    if isinstance(code, int) and not isinstance(code, bool):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def leave(code: object = 0) -> NoReturn:
    """End the process with ``code`` as ``sys.exit`` would, skipping object teardown.

    Falls back to ``sys.exit`` while another Python thread runs (Python would join it).

    Args:
        code: what ``sys.exit`` takes.
    """
    if threading.active_count() > 1:
        sys.exit(code)
    status = exit_status(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):  # closed or replaced
            stream.flush()
    os._exit(status)
