"""The run directory's layout: every name comes from society.run.layout, for writers and readers."""

import shutil
from pathlib import Path

import pytest

from analysis import load_run
from analysis.dialect_plots import read_graph
from society.config import Scenario
from society.run import layout
from society.run.checkpoints import available_agents, available_rounds, load_agent
from society.run.runner import run_scenario
from tests._runs import TINY, tiny_run

TOP = {
    layout.CONFIG,
    layout.MANIFEST,
    layout.TOKENIZER,
    layout.EVENTS,
    layout.METRICS,
    layout.SAMPLES,
    layout.NETWORK,
    layout.NETWORK_INITIAL,
    layout.CHECKPOINTS,
}


def test_a_run_holds_exactly_the_named_files():
    run = tiny_run()  # shared: the report tests may have added report.html
    assert {p.name for p in run.iterdir()} - {layout.REPORT} == TOP
    assert layout.is_run(run) and not layout.is_run(run / layout.METRICS)
    assert sorted(p.name for p in (run / layout.METRICS).iterdir()) == sorted(
        layout.table(run, name).name for name in layout.TABLES
    )
    rounds = TINY["rounds"]
    assert layout.ancestor_checkpoint(run).is_file()
    assert {p.name for p in layout.checkpoints(run).iterdir()} == {
        layout.ANCESTOR,
        layout.round_dir(run, rounds).name,
    }
    assert layout.population_checkpoint(run, rounds).is_file()


def test_checkpoint_names_parse_back():
    run = Path("RUN")
    assert layout.checkpoint_round(layout.round_dir(run, 12).name) == 12
    assert layout.checkpoint_agent(layout.agent_checkpoint(run, 3, 40).name) == 40
    assert layout.checkpoint_round(layout.ANCESTOR) is None
    assert layout.checkpoint_agent("agent-x.safetensors") is None


def test_an_unknown_table_is_refused():
    assert layout.table("RUN", "rounds") == Path("RUN/metrics/rounds.parquet")
    with pytest.raises(ValueError, match="no table 'round'"):
        layout.table("RUN", "round")


RENAMED = {  # every name analysis and the checkpoint reader use, changed
    "CONFIG": "scenario.toml",
    "MANIFEST": "about.json",
    "TOKENIZER": "bpe.json",
    "EVENTS": "happened.json",
    "METRICS": "tables",
    "SAMPLES": "said.jsonl",
    "NETWORK": "graph.json",
    "CHECKPOINTS": "models",
}


def _rename(monkeypatch, run: Path) -> None:
    """Move a run's files to the RENAMED names and point the layout at them."""
    for constant, new in RENAMED.items():
        (run / getattr(layout, constant)).rename(run / new)
        monkeypatch.setattr(layout, constant, new)


def test_analysis_reads_a_run_by_the_layout_names_alone(tmp_path, monkeypatch):
    run = Path(shutil.copytree(tiny_run(), tmp_path / "run"))
    _rename(monkeypatch, run)
    read = load_run(run)
    assert read.manifest["status"] == layout.DONE
    assert read.params["network.kind"] == "caveman"
    assert read.events and not read.rounds.empty and not read.pairs.empty
    assert len(read.samples([0])) == 8 * TINY["speech.utterances"]
    assert read_graph(read).number_of_nodes() == 8
    rounds = available_rounds(run)
    assert rounds == [TINY["rounds"]]
    assert load_agent(run, available_agents(run, rounds[0])[0]) is not None


def test_the_writers_write_by_the_layout_names_alone(tmp_path, monkeypatch):
    for constant, new in RENAMED.items():
        monkeypatch.setattr(layout, constant, new)
    scenario = Scenario().with_overrides({**TINY, "rounds": 1, "metrics.expensive_every": 5})
    run = run_scenario(scenario, tmp_path / "run")
    names = {p.name for p in run.iterdir()}
    assert set(RENAMED.values()) <= names
    assert not names & {"config.toml", "manifest.json", "metrics", "samples.jsonl"}
    assert load_run(run).manifest["status"] == layout.DONE
