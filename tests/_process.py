"""Run ``society`` as a real process and act on it when its run reaches a round."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def society(*args: str) -> subprocess.Popen:
    """Start ``python -m society ARGS`` in its own session (so its group can be killed)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "society", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def manifest(run: Path) -> dict:
    """The run's manifest (empty while it is not written yet)."""
    try:
        return json.loads((run / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_for_round(proc: subprocess.Popen, run: Path, round_: int, timeout: float = 300) -> None:
    """Block until the run's manifest says ``rounds_done >= round_`` (fail if it ends first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if manifest(run).get("rounds_done", -1) >= round_ and manifest(run).get("pid"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before round {round_}: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"round {round_} not reached in {timeout} s")
