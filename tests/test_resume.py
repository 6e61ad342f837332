"""``society run --resume``: a run killed mid-way finishes identical to one never stopped."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pandas as pd
import pytest

from society.run import layout
from tests._process import society, wait_for_round

NGRAM = """
name = "resume"
rounds = 5
[network]
kind = "caveman"
communities = 2
size = 3
[speech]
utterances = 20
max_tokens = 20
[real_data]
max_texts = 600
fraction = 0.1
[tokenizer]
vocab_size = 600
[metrics]
heldout_texts = 30
[checkpoints]
every = 2
[[events]]
round = 4
action = "remove_agents"
count = 1
"""

TRANSFORMER = """
name = "resume-neural"
rounds = 3
[network]
kind = "ring"
agents = 3
[speech]
utterances = 8
max_tokens = 12
[real_data]
max_texts = 300
[tokenizer]
vocab_size = 400
[language_model]
kind = "transformer"
layers = 1
width = 16
heads = 2
context = 16
epochs = 1
ancestor_epochs = 1
device = "cpu"
threads = 1
[metrics]
heldout_texts = 10
self_bleu_texts = 0
classifier_agents = 0
dialect_null = 0
mantel_permutations = 0
"""


def same_run(a: Path, b: Path) -> None:
    """Every table, the samples and the events are identical, bit for bit."""
    for name in layout.TABLES:
        pd.testing.assert_frame_equal(
            pd.read_parquet(layout.table(a, name)),
            pd.read_parquet(layout.table(b, name)),
            check_exact=True,
        )
    assert (a / layout.SAMPLES).read_bytes() == (b / layout.SAMPLES).read_bytes()
    assert (a / layout.EVENTS).read_bytes() == (b / layout.EVENTS).read_bytes()


def kill_and_resume(tmp_path: Path, body: str, kill_after: int) -> tuple[Path, Path]:
    path = tmp_path / "scenario.toml"
    path.write_text(body)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    done = society("run", str(path), "--out", str(whole))
    assert done.wait(timeout=600) == 0, done.stderr.read()
    proc = society("run", str(path), "--out", str(killed))
    wait_for_round(proc, killed, kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = json.loads((killed / layout.MANIFEST).read_text())
    assert before["status"] == layout.RUNNING  # SIGKILL: nothing could mark it
    assert before["rounds_done"] < before["rounds"]
    resumed = society("run", "--resume", str(killed))
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    return whole, killed


def test_a_killed_ngram_run_resumes_to_the_uninterrupted_result(tmp_path):
    whole, killed = kill_and_resume(tmp_path, NGRAM, kill_after=2)
    same_run(whole, killed)
    manifest = json.loads((killed / layout.MANIFEST).read_text())
    assert manifest["status"] == layout.DONE
    assert manifest["resumed"][0]["from_round"] >= 2
    rounds = sorted(int(p.name.split("-")[1]) for p in layout.checkpoints(killed).glob("round-*"))
    assert rounds == [2, 4, 5]


def test_a_killed_transformer_run_resumes_to_the_uninterrupted_result(tmp_path):
    whole, killed = kill_and_resume(tmp_path, TRANSFORMER, kill_after=1)
    same_run(whole, killed)


def test_a_failed_run_resumes_and_a_half_line_is_cut(tmp_path):
    """A run stopped by SIGTERM (failed) with a torn last sample line resumes cleanly."""
    path = tmp_path / "scenario.toml"
    path.write_text(NGRAM)
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    done = society("run", str(path), "--out", str(whole))
    assert done.wait(timeout=600) == 0
    proc = society("run", str(path), "--out", str(stopped))
    wait_for_round(proc, stopped, 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    with open(stopped / layout.SAMPLES, "a") as handle:
        handle.write('{"round": 9, "agent": 0, "te')  # what a full disk could leave
    resumed = society("run", "--resume", str(stopped))
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    same_run(whole, stopped)


@pytest.mark.parametrize("status", [layout.DONE])
def test_resume_refuses_a_finished_run(tmp_path, status):
    run = tmp_path / "run"
    run.mkdir()
    (run / layout.CONFIG).write_text('name = "x"\n')
    (run / layout.MANIFEST).write_text(json.dumps({"status": status}))
    proc = society("run", "--resume", str(run))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [f"error: {run}: status: the run is already done"]
