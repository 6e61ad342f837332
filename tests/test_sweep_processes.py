"""A sweep's worker processes die with it; two live sweeps never share a directory."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from society.app.cli import app
from society.run import layout
from tests._process import society

SCENARIO = """
name = "orphans"
rounds = 200
[network]
kind = "ring"
agents = 4
[speech]
utterances = 20
max_tokens = 20
[real_data]
max_texts = 400
[tokenizer]
vocab_size = 500
[metrics]
heldout_texts = 20
"""


def session_processes(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_killed_sweep_leaves_no_process_behind(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO)
    out = tmp_path / "sweep"
    proc = society("sweep", str(path), "--out", str(out), "--seeds", "4", "--workers", "2")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # a worker is inside a run
        manifests = list(out.glob("runs/*/manifest.json"))
        if any(json.loads(m.read_text()).get("rounds_done", 0) >= 1 for m in manifests):
            break
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    assert len(session_processes(proc.pid)) >= 3  # the sweep and its two workers
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    killed = time.monotonic()
    while session_processes(proc.pid) and time.monotonic() - killed < 10:
        time.sleep(0.2)
    left = session_processes(proc.pid)
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} processes still running 10 s after the sweep was killed"
    statuses = {json.loads(m.read_text())["status"] for m in out.glob("runs/*/manifest.json")}
    details = [
        {k: json.loads(m.read_text()).get(k) for k in ("status", "rounds_done", "error", "pid")}
        for m in out.glob("runs/*/manifest.json")
    ]
    assert layout.RUNNING not in statuses, details  # the workers marked their runs failed


def test_a_second_live_sweep_in_the_same_directory_is_refused(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    holder = {"pid": os.getppid(), "host": socket.gethostname()}  # alive: pytest's parent
    (out / layout.SWEEP_LOCK).write_text(json.dumps(holder))
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO.replace("rounds = 200", "rounds = 1"))
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {out}: another sweep (pid {holder['pid']}) is running here; wait for it or stop it"
    ]
    assert not (out / layout.SWEEP_INDEX).exists()


def test_a_stale_lock_is_taken_over_and_removed(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / layout.SWEEP_LOCK).write_text(
        json.dumps({"pid": 2**22 + 7, "host": socket.gethostname()})
    )
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO.replace("rounds = 200", "rounds = 1"))
    result = CliRunner().invoke(
        app, ["sweep", str(path), "--out", str(out), "--workers", "1",
              "--set", "speech.utterances=5", "--set", "real_data.max_texts=300"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert not (out / layout.SWEEP_LOCK).exists()
