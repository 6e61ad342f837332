"""``society run --resume``: a run killed mid-way finishes identical to one never stopped.

The run saves its resume state (``society.run.state``) after every round, so a resume
starts from the last saved round, not from round 0 (the manifest's ``resumed`` says which).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from society.config import load_scenario
from society.run import layout
from society.run.runner import RunError, resume_run, run_scenario
from society.run.state import read_header
from tests._process import society, wait_for_round
from tests.tiny_checkpoints import save_tiny_gpt2

NGRAM = """
name = "resume"
rounds = 8
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
round = 2
action = "set"
key = "speech.temperature"
value = 0.7
[[events]]
round = 2
action = "cut_edges"
edges = [[0, 1]]
[[events]]
round = 3
action = "connect"
communities = [0, 1]
bridges = 2
[[events]]
round = 3
action = "add_agents"
count = 1
community = 1
[[events]]
round = 6
action = "remove_agents"
count = 1
[[events]]
round = 7
action = "add_agents"
count = 1
community = 0
"""

TRANSFORMER = """
name = "resume-neural"
rounds = 4
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
[[events]]
round = 1
action = "set"
key = "speech.temperature"
value = 0.8
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
    assert (a / layout.NETWORK).read_bytes() == (b / layout.NETWORK).read_bytes()


def wait_for_state(proc, run: Path, round_: int, timeout: float = 300) -> None:
    """Block until the run's resume state holds round ``round_`` or later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        header = read_header(run)
        if header is not None and header.round >= round_:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before its state of round {round_}")
        time.sleep(0.05)
    raise AssertionError(f"no state of round {round_} in {timeout} s")


def kill_and_resume(tmp_path: Path, body: str, state_round: int) -> tuple[Path, Path, int]:
    """Run whole; run again, SIGKILL it once its state holds ``state_round``; resume it.

    Returns:
        The whole run, the killed-and-resumed run, and the round its state held.
    """
    path = tmp_path / "scenario.toml"
    path.write_text(body)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    done = society("run", str(path), "--out", str(whole))
    assert done.wait(timeout=600) == 0, done.stderr.read()
    assert not (whole / layout.STATE).exists()  # removed when the run is done
    proc = society("run", str(path), "--out", str(killed))
    wait_for_state(proc, killed, state_round)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = json.loads((killed / layout.MANIFEST).read_text())
    assert before["status"] == layout.RUNNING  # SIGKILL: nothing could mark it
    assert before["rounds_done"] < before["rounds"]
    saved = read_header(killed).round
    assert state_round <= saved <= before["rounds_done"]
    resumed = society("run", "--resume", str(killed))
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert f"resumed from round {saved} (state)" in out
    return whole, killed, saved


def test_a_killed_ngram_run_with_events_resumes_from_its_state_to_the_same_result(tmp_path):
    """Events before the kill (set, cut_edges, connect, add_agents) are restored, not redone."""
    whole, killed, saved = kill_and_resume(tmp_path, NGRAM, state_round=3)
    same_run(whole, killed)
    manifest = json.loads((killed / layout.MANIFEST).read_text())
    assert manifest["status"] == layout.DONE
    assert manifest["resumed"] == [
        {"at": manifest["resumed"][0]["at"], "from_round": saved, "from": "state"}
    ]
    assert not (killed / layout.STATE).exists()
    rounds = sorted(int(p.name.split("-")[1]) for p in layout.checkpoints(killed).glob("round-*"))
    assert rounds == [2, 4, 6, 8]
    agents = pd.read_parquet(layout.table(killed, "agents"))
    assert sorted(agents["agent"].unique())[-2:] == [7, 8]  # added in rounds 3 and 7


def test_a_killed_transformer_run_resumes_from_its_state_to_the_same_result(tmp_path):
    whole, killed, _ = kill_and_resume(tmp_path, TRANSFORMER, state_round=2)
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


class CrashError(Exception):
    """Stands for a crash after a round (the run is marked failed)."""


def crash_at(round_: int):
    def on_round(society) -> None:
        if society.round == round_:
            raise CrashError

    return on_round


def run_crashed(tmp_path: Path, body: str, crash: int, **sets) -> tuple[Path, Path]:
    """An uninterrupted run and one crashed after round ``crash``, both of ``body``."""
    path = tmp_path / "scenario.toml"
    path.write_text(body)
    scenario = load_scenario(path, [f"{k}={v}" for k, v in sets.items()] or None)
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    run_scenario(scenario, whole)
    with pytest.raises(CrashError):
        run_scenario(scenario, crashed, on_round=crash_at(crash))
    assert json.loads((crashed / layout.MANIFEST).read_text())["status"] == layout.FAILED
    return whole, crashed


def test_resume_starts_at_the_saved_round_not_round_0(tmp_path):
    whole, crashed = run_crashed(tmp_path, NGRAM, crash=5)
    assert read_header(crashed).round == 5
    seen: list[int] = []
    resume_run(crashed, on_round=lambda society: seen.append(society.round))
    assert seen == [5, 6, 7, 8]  # rounds 1-4 are not recomputed
    same_run(whole, crashed)
    assert pd.read_parquet(layout.table(crashed, "agents"))["agent"].max() == 8  # Mesa's ids


def test_a_state_every_k_rounds_recomputes_from_the_last_one(tmp_path):
    whole, crashed = run_crashed(tmp_path, NGRAM, crash=5, **{"checkpoints.state_every": 2})
    assert read_header(crashed).round == 4
    seen: list[int] = []
    resume_run(crashed, on_round=lambda society: seen.append(society.round))
    assert seen == [4, 5, 6, 7, 8]
    same_run(whole, crashed)
    manifest = json.loads((crashed / layout.MANIFEST).read_text())
    assert manifest["resumed"][-1]["from_round"] == 4
    assert manifest["resumed"][-1]["from"] == "state"


def test_without_a_state_resume_replays_from_round_0(tmp_path):
    whole, crashed = run_crashed(tmp_path, NGRAM, crash=3, **{"checkpoints.state_every": 0})
    assert read_header(crashed) is None
    seen: list[int] = []
    resume_run(crashed, on_round=lambda society: seen.append(society.round))
    assert seen == list(range(9))  # replayed from round 0
    same_run(whole, crashed)
    assert json.loads((crashed / layout.MANIFEST).read_text())["resumed"][-1]["from"] == "replay"


def test_a_corrupt_state_is_not_used_and_resume_replays(tmp_path):
    whole, crashed = run_crashed(tmp_path, NGRAM, crash=3)
    (crashed / layout.STATE).write_bytes(b"not a state")
    warnings: list[str] = []
    resume_run(crashed, on_warning=warnings.append)
    assert [w for w in warnings if w.startswith("resume state not used")], warnings
    same_run(whole, crashed)
    assert json.loads((crashed / layout.MANIFEST).read_text())["resumed"][-1]["from"] == "replay"


def test_keep_state_keeps_the_last_state_of_a_finished_run(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text(NGRAM)
    run = tmp_path / "run"
    run_scenario(load_scenario(path, ["checkpoints.keep_state=true"]), run)
    assert read_header(run).round == 7  # the last round before the end


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


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_crashed_lora_society_resumes_from_its_state_to_the_same_result(tmp_path):
    """LoRA agents share one frozen base; each agent's adapter and AdamW moments are restored."""
    from society.corpora import load_corpus
    from society.lm.tokenizer import SharedTokenizer

    tokenizer = SharedTokenizer.train(load_corpus("grammar", max_texts=600).train, 200, 2)
    base = save_tiny_gpt2(tmp_path / "base", tokenizer)
    body = f"""
name = "resume-lora"
rounds = 4
[network]
kind = "complete"
agents = 3
[speech]
utterances = 6
max_tokens = 8
[listening]
texts = 6
[real_data]
source = "grammar"
max_texts = 600
[language_model]
kind = "transformer"
path = "{base}"
lora = true
lora_rank = 2
context = 32
ancestor_epochs = 1
epochs = 1
batch_size = 4
device = "cpu"
[metrics]
heldout_texts = 10
self_bleu_texts = 0
classifier_agents = 0
dialect_null = 0
mantel_permutations = 0
"""
    whole, crashed = run_crashed(tmp_path, body, crash=2)
    assert read_header(crashed).round == 2
    # the frozen base comes back from the rebuild, so the state holds far less than it
    assert (crashed / layout.STATE).stat().st_size < (base / "model.safetensors").stat().st_size
    seen: list[int] = []
    resume_run(crashed, on_round=lambda society: seen.append(society.round))
    assert seen == [2, 3, 4]
    same_run(whole, crashed)


def test_a_full_disk_while_saving_the_state_keeps_the_previous_one(tmp_path, monkeypatch):
    """ENOSPC mid-save: the run fails cleanly, the last good state stays and resume uses it."""
    import errno
    import os

    from society.run import state

    real, calls = state.atomic_write_bytes, {"n": 0}

    def full(path: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the state of round 3 (none after round 0), once its temp file exists
            path.with_name(f".{path.name}.tmp").write_bytes(data[:10])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    path = tmp_path / "scenario.toml"
    path.write_text(NGRAM)
    whole, full_disk = tmp_path / "whole", tmp_path / "full"
    run_scenario(load_scenario(path), whole)
    monkeypatch.setattr(state, "atomic_write_bytes", full)
    with pytest.raises(RunError, match="No space left on device"):
        run_scenario(load_scenario(path), full_disk)
    monkeypatch.setattr(state, "atomic_write_bytes", real)
    assert not list(full_disk.rglob(".*.tmp"))
    assert json.loads((full_disk / layout.MANIFEST).read_text())["status"] == layout.FAILED
    assert read_header(full_disk).round == 2
    resume_run(full_disk)
    same_run(whole, full_disk)


def test_a_society_that_cannot_be_saved_still_runs_and_warns(tmp_path):
    """Something unpicklable in the society stops the saving, not the run."""
    import threading

    path = tmp_path / "scenario.toml"
    path.write_text(NGRAM)
    run, warnings = tmp_path / "run", []

    def on_round(society) -> None:
        if society.round == 1:
            society.lock = threading.Lock()

    run_scenario(load_scenario(path), run, on_round=on_round, on_warning=warnings.append)
    manifest = json.loads((run / layout.MANIFEST).read_text())
    assert manifest["status"] == layout.DONE
    assert [w for w in warnings if w.startswith("round 2: resume state not saved")] == [
        w for w in manifest["warnings"] if "resume state" in w
    ]
    assert len([w for w in warnings if "resume state" in w]) == 1  # said once, then off


def test_a_resumed_run_that_crashes_again_resumes_again(tmp_path):
    whole, crashed = run_crashed(tmp_path, NGRAM, crash=3)
    with pytest.raises(CrashError):
        resume_run(crashed, on_round=crash_at(6))
    assert read_header(crashed).round == 6
    resume_run(crashed)
    same_run(whole, crashed)
    resumed = json.loads((crashed / layout.MANIFEST).read_text())["resumed"]
    assert [(r["from_round"], r["from"]) for r in resumed] == [(3, "state"), (6, "state")]


def test_a_state_that_does_not_fit_the_rebuilt_society_falls_back_to_replay(tmp_path):
    """The rebuilt society lacks an object the state names: warn, replay, same result."""
    import gzip
    import pickle

    whole, crashed = run_crashed(tmp_path, NGRAM, crash=3)
    path = crashed / layout.STATE
    header, body = pickle.loads(gzip.decompress(path.read_bytes()))
    header["static"]["corpus.gone"] = "list"
    path.write_bytes(gzip.compress(pickle.dumps((header, body))))
    warnings: list[str] = []
    seen: list[int] = []
    resume_run(crashed, on_warning=warnings.append, on_round=lambda s: seen.append(s.round))
    assert [w for w in warnings if "differs at corpus.gone" in w], warnings
    assert seen == list(range(9))
    same_run(whole, crashed)


RING = """
name = "ring"
rounds = 3
[network]
kind = "small_world"
agents = 150
k = 4
[speech]
utterances = 3
max_tokens = 12
[real_data]
max_texts = 400
[tokenizer]
vocab_size = 300
[metrics]
heldout_texts = 10
expensive_every = 100
pairs = "none"
dialect_null = 0
mantel_permutations = 0
divergence_null = 0
[checkpoints]
every = 100
"""


def test_a_connected_society_of_150_agents_saves_its_state_and_resumes(tmp_path):
    """Mesa's cached neighbourhoods chain every cell to the next: pickling them recursed once
    per cell and passed Python's limit from about 120 agents on a connected graph."""
    whole, crashed = run_crashed(tmp_path, RING, crash=2)
    assert read_header(crashed).round == 2
    resume_run(crashed)
    same_run(whole, crashed)
