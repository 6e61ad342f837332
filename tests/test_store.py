"""Write errors and a full disk: one line, nonzero exit, no temporary files, whole lines."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.runs import load_run
from society.app.cli import app
from society.run import layout, store

runner = CliRunner()
SCENARIO = """
name = "disk"
rounds = 4
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


def _scenario(tmp_path: Path, body: str = SCENARIO) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(body)
    return path


def _assert_clean_failure(result, run: Path) -> None:  # noqa: ANN001
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1, (result.output, result.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"error: {run}: cannot write: "), lines
    assert "No space left on device" in lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert not list(run.rglob(".*.tmp"))
    samples = run / layout.SAMPLES
    assert not samples.exists() or samples.read_bytes().endswith(b"\n")


def test_enospc_while_appending_samples_leaves_whole_lines(tmp_path, monkeypatch):
    """The disk fills after the second round's lines are written but before they are synced."""
    calls = {"appends": 0}
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(layout.SAMPLES):
            calls["appends"] += 1
            if calls["appends"] == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), layout.SAMPLES)
        real_fsync(fd)

    monkeypatch.setattr(store.os, "fsync", fsync)
    run = tmp_path / "run"
    result = runner.invoke(app, ["run", str(_scenario(tmp_path)), "--out", str(run)])
    _assert_clean_failure(result, run)
    manifest = json.loads((run / layout.MANIFEST).read_text())
    assert manifest["status"] == layout.FAILED and "No space left" in manifest["error"]
    rows = [json.loads(line) for line in (run / layout.SAMPLES).read_text().splitlines()]
    assert {row["round"] for row in rows} == {0}  # round 1's lines were rolled back whole


def test_enospc_while_writing_a_table_removes_its_temporary_file(tmp_path, monkeypatch):
    real = store.atomic_write_parquet
    calls = {"n": 0}

    def write(path: Path, frame) -> None:  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] == 7:  # the second round's first table, after its temporary file exists
            path.with_name(f".{path.name}.tmp").write_bytes(b"half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, frame)

    monkeypatch.setattr(store, "atomic_write_parquet", write)
    run = tmp_path / "run"
    result = runner.invoke(app, ["run", str(_scenario(tmp_path)), "--out", str(run)])
    _assert_clean_failure(result, run)
    assert json.loads((run / layout.MANIFEST).read_text())["status"] == layout.FAILED


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_tmpfs_gives_one_line_and_a_readable_run(tmp_path, tiny_disk):
    body = SCENARIO.replace("rounds = 4", "rounds = 30").replace(
        "utterances = 20", "utterances = 120"
    )
    run = tiny_disk / "run"
    result = runner.invoke(app, ["run", str(_scenario(tmp_path, body)), "--out", str(run)])
    _assert_clean_failure(result, run)
    manifest = json.loads((run / layout.MANIFEST).read_text())
    assert manifest["status"] == layout.FAILED  # space freed by removing temporary files
    loaded = load_run(run)
    assert loaded.manifest["status"] == layout.FAILED
    assert set(loaded.samples()["round"]) <= set(range(manifest["rounds_done"] + 1))


def test_a_torn_samples_file_is_read_with_a_warning(tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, ["run", str(_scenario(tmp_path)), "--out", str(run)])
    assert result.exit_code == 0, result.stderr
    whole = load_run(run).samples()
    with open(run / layout.SAMPLES, "a") as handle:
        handle.write('{"round": 4, "agent": 1, "te')
    with pytest.warns(UserWarning, match="line .* is cut off"):
        torn = load_run(run).samples()
    assert len(torn) == len(whole)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = runner.invoke(app, ["report", str(run)])
    assert report.exit_code == 0, report.stderr
    assert (run / layout.REPORT).is_file()


def test_a_corrupt_samples_line_is_a_clear_error(tmp_path):
    from analysis.runs import RunError

    run = tmp_path / "run"
    assert runner.invoke(app, ["run", str(_scenario(tmp_path)), "--out", str(run)]).exit_code == 0
    lines = (run / layout.SAMPLES).read_text().splitlines(keepends=True)
    lines[3] = "garbage\n"
    (run / layout.SAMPLES).write_text("".join(lines))
    with pytest.raises(RunError, match=r"samples.jsonl: line 4 is not JSON"):
        load_run(run).samples()
