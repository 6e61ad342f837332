"""A run stopped by SIGTERM, SIGHUP or SIGINT ends at a safe point, marked failed, nonzero."""

from __future__ import annotations

import json
import signal
import socket

import pytest

from society.run import layout
from tests._process import manifest, society, wait_for_round

SCENARIO = """
name = "signals"
rounds = 40
[network]
kind = "ring"
agents = 4
[speech]
utterances = 20
max_tokens = 20
[real_data]
max_texts = 400
fraction = 0.1
[tokenizer]
vocab_size = 500
[metrics]
heldout_texts = 20
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_stops_the_run_at_a_safe_point(tmp_path, name):
    signum = getattr(signal, name)
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO)
    run = tmp_path / "run"
    proc = society("run", str(path), "--out", str(run))
    wait_for_round(proc, run, 1)
    running = manifest(run)
    assert running["status"] == layout.RUNNING
    assert running["pid"] == proc.pid and running["host"] == socket.gethostname()
    assert running["heartbeat"]
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {run}: stopped by {name}"), err
    assert "Traceback" not in err
    stopped = json.loads((run / layout.MANIFEST).read_text())
    assert stopped["status"] == layout.FAILED
    assert stopped["signal"] == name and stopped["finished"]
    assert stopped["rounds_done"] < stopped["rounds"]
    assert not list(run.rglob(".*.tmp"))
    assert (run / layout.SAMPLES).read_bytes().endswith(b"\n")


def test_sigterm_while_the_society_is_built_marks_the_run_failed(tmp_path):
    """The run directory and manifest exist before the ancestor trains; a stop there is kept."""
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO.replace("max_texts = 400", "max_texts = 4000"))
    run = tmp_path / "run"
    proc = society("run", str(path), "--out", str(run))
    import time

    deadline = time.monotonic() + 120
    while not manifest(run).get("pid") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert manifest(run)["rounds_done"] == 0
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert json.loads((run / layout.MANIFEST).read_text())["status"] == layout.FAILED
