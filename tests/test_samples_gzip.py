"""``samples.jsonl.gz``: big societies' utterances gzip-compressed, read like ``samples.jsonl``."""

import gzip
import json

import pandas as pd
import pytest

from analysis import load_run
from society.app.annotate import read_samples
from society.config import load_scenario
from society.run import layout, store
from society.run.runner import resume_run, run_scenario
from society.run.store import gzip_samples
from tests.test_resume import NGRAM, CrashError, crash_at


@pytest.mark.parametrize(
    ("setting", "agents", "gzipped"),
    [
        (None, 999, False),
        (None, 1000, True),
        (None, 10000, True),
        (True, 3, True),
        (False, 5000, False),
    ],
)
def test_unset_big_societies_gzip_their_samples(setting, agents, gzipped):
    assert gzip_samples(setting, agents) is gzipped


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same scenario written plain and gzipped."""
    root = tmp_path_factory.mktemp("gz")
    path = root / "scenario.toml"
    path.write_text(NGRAM)
    plain = run_scenario(load_scenario(path), root / "plain")
    packed = run_scenario(load_scenario(path, ["metrics.samples_gzip=true"]), root / "gz")
    return plain, packed


def test_the_gzip_file_holds_the_same_lines_one_member_per_round(runs):
    plain, packed = runs
    assert not (packed / layout.SAMPLES).exists()
    assert layout.samples(packed) == packed / "samples.jsonl.gz"
    data = layout.samples(packed).read_bytes()
    assert gzip.decompress(data) == (plain / layout.SAMPLES).read_bytes()
    rounds = json.loads((plain / layout.MANIFEST).read_text())["rounds"]
    assert data.count(b"\x1f\x8b\x08") >= rounds  # a member a round (round 0 logged in round 1)


@pytest.mark.parametrize("name", ["samples.jsonl", "samples.jsonl.gz"])
def test_a_round_is_written_in_pieces_with_the_same_lines(tmp_path, monkeypatch, name):
    monkeypatch.setattr(store, "ENCODE_ROWS", 2)
    rows = [{"round": 1, "agent": i, "text": f"é {i}", "ppl": None} for i in range(5)]
    writer = object.__new__(store.RunStore)  # only ``samples`` is used to write lines
    writer.samples = tmp_path / name
    pieces = list(writer._encode(rows))
    assert len(pieces) >= 3
    writer.append_samples(rows)
    data = writer.samples.read_bytes()
    text = (gzip.decompress(data) if name.endswith(".gz") else data).decode()
    assert [json.loads(line) for line in text.splitlines()] == rows
    assert data.count(b"\x1f\x8b\x08") == (1 if name.endswith(".gz") else 0)


def test_analysis_and_annotate_read_it_like_the_plain_file(runs):
    plain, packed = runs
    pd.testing.assert_frame_equal(load_run(packed).samples(), load_run(plain).samples())
    pd.testing.assert_frame_equal(load_run(packed).samples([2, 5]), load_run(plain).samples([2, 5]))
    assert len(load_run(packed).samples([2])) > 0
    pd.testing.assert_frame_equal(read_samples(packed), read_samples(plain))


def test_a_torn_last_member_is_skipped_with_a_warning(runs, tmp_path):
    _, packed = runs
    data = layout.samples(packed).read_bytes()
    last = data.rfind(b"\x1f\x8b\x08")
    torn = tmp_path / "torn"
    torn.mkdir()
    for name in (layout.CONFIG, layout.MANIFEST):
        (torn / name).write_bytes((packed / name).read_bytes())
    (torn / "samples.jsonl.gz").write_bytes(data[: last + (len(data) - last) // 2])
    whole = load_run(packed).samples()
    with pytest.warns(UserWarning, match="cut off"):
        read = load_run(torn).samples()
    assert 0 < len(read) < len(whole)
    pd.testing.assert_frame_equal(read, whole.iloc[: len(read)])


@pytest.mark.parametrize("state_every", [1, 0])
def test_a_crashed_gzip_run_resumes_to_the_same_samples(tmp_path, state_every):
    """From its state (cut back to the state's size) or replayed from round 0 (rewritten)."""
    path = tmp_path / "scenario.toml"
    path.write_text(NGRAM)
    sets = ["metrics.samples_gzip=true", f"checkpoints.state_every={state_every}"]
    scenario = load_scenario(path, sets)
    whole = run_scenario(scenario, tmp_path / "whole")
    with pytest.raises(CrashError):
        run_scenario(scenario, tmp_path / "crashed", on_round=crash_at(4))
    crashed = tmp_path / "crashed"
    resume_run(crashed)
    assert not (crashed / layout.SAMPLES).exists()
    assert gzip.decompress(layout.samples(crashed).read_bytes()) == gzip.decompress(
        layout.samples(whole).read_bytes()
    )
