"""A tiny finished run directory shared by the analysis and report tests (built once)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

from society.config import Scenario
from society.run.runner import run_scenario

TINY = {
    "name": "tiny-islands",
    "rounds": 4,
    "network.kind": "caveman",
    "network.communities": 2,
    "network.size": 4,
    "language_model.discount": 0.1,  # faithful learners: the islands split into dialects
    "speech.utterances": 40,
    "speech.max_tokens": 25,
    "real_data.max_texts": 1500,
    "tokenizer.vocab_size": 800,
    "metrics.heldout_texts": 50,
    "metrics.expensive_every": 2,
    "metrics.classifier_agents": 2,
    "metrics.mantel_permutations": 49,
    "events": [{"round": 1, "action": "isolate_communities"}],
}


@cache
def tiny_run(seed: int = 3) -> Path:
    """Run the tiny scenario once per test session and return its directory."""
    root = Path(tempfile.mkdtemp(prefix="society-tiny-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    scenario = Scenario().with_overrides({**TINY, "seed": seed})
    return run_scenario(scenario, root / f"run-{seed}")


@cache
def tiny_report() -> Path:
    """The tiny run's HTML report, written once per test session."""
    from analysis.report import write_report

    return write_report(tiny_run(), tiny_run() / "report.html")
