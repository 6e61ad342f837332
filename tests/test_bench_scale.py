"""``society bench`` at scale: n-gram rounds by phase in fresh processes, whole runs side by side.

Structure only (which keys, which phases, that the parts add up); never how fast.
"""

import json
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from society.app import bench, bench_scale
from society.app.cli import app
from society.metrics.suite import MEASURES

STAGES = ("events", "listen", "curate", "learn", "speak", "record")
TINY = """name = "tiny"
rounds = 1
[network]
kind = "ring"
agents = 4
[speech]
utterances = 5
max_tokens = 10
[real_data]
max_texts = 300
[tokenizer]
vocab_size = 300
[metrics]
heldout_texts = 10
"""


def test_a_round_is_split_into_every_stage_and_measure():
    row = bench_scale.ngram_phases(6, utterances=5, texts=300, rounds=2)
    expected = {*STAGES, *(f"measure.{cls.name}" for cls in MEASURES)}
    assert set(row["phases"]) == expected
    assert row["agents"] == 6 and row["rounds"] == 2
    assert sum(row["phases"].values()) + row["other_s"] == pytest.approx(row["round_s"])
    assert 0 <= row["other_s"] <= 0.5 * row["round_s"]  # the phases cover most of a round
    assert row["peak_rss_gb"] > 0


def test_each_size_runs_in_its_own_process_with_its_own_peak():
    result = bench_scale.ngram_scale((5, 7), utterances=5, texts=300)
    assert [row["agents"] for row in result["sizes"]] == [5, 7]
    for row in result["sizes"]:
        assert row["process"]["exit"] == 0
        assert row["process"]["peak_rss_gb"] >= 0.99 * row["peak_rss_gb"]
        assert set(STAGES) <= set(row["phases"])
    assert "scaling_10000_over_1000" not in result


def test_peak_memory_is_the_one_process_not_the_largest_child_so_far():
    big = [sys.executable, "-c", "b = bytearray(400_000_000); b[::4096] = b'x' * len(b[::4096])"]
    small = [sys.executable, "-c", "pass"]
    first, second = bench_scale.timed_process(big), bench_scale.timed_process(small)
    assert first["peak_rss_gb"] >= 0.4 and second["peak_rss_gb"] < 0.2
    assert first["exit"] == second["exit"] == 0 and first["cpu_s"] > 0


def test_a_process_past_its_timeout_is_killed():
    result = bench_scale.timed_process(
        [sys.executable, "-c", "import time; time.sleep(60)"], timeout=1
    )
    assert result["exit"] == -9 and result["wall_s"] < 30


def test_whole_run_beside_a_baseline_script(tmp_path):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY)
    shim = tmp_path / "old.py"  # how an older checkout is run: its path first, then its CLI
    root = bench_scale._environment()["PYTHONPATH"].split(":")[0]
    shim.write_text(
        f"import sys\nsys.path.insert(0, {root!r})\n"
        "from society.app.cli import app\napp(prog_name='society')\n"
    )
    result = bench_scale.whole_run(
        scenario, baseline_python=sys.executable, baseline_script=str(shim)
    )
    assert result["ours"]["exit"] == 0 and result["baseline"]["exit"] == 0
    assert result["speedup"] == pytest.approx(
        result["baseline"]["wall_s"] / result["ours"]["wall_s"]
    )
    assert result["target"] == 4.0 and result["baseline"]["command"].endswith("old.py")
    alone = bench_scale.whole_run(scenario)
    assert "baseline" not in alone and "speedup" not in alone and alone["ours"]["peak_rss_gb"] > 0
    assert "pairs" not in result and "pairs" not in alone


def test_whole_run_in_alternating_pairs_quotes_each_sides_median(tmp_path):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY)
    result = bench_scale.whole_run(scenario, baseline_python=sys.executable, pairs=3)
    pairs = result["pairs"]
    assert len(pairs) == 3 and all(p["ours_s"] > 0 and p["baseline_s"] > 0 for p in pairs)
    assert result["ours"]["wall_s"] == sorted(p["ours_s"] for p in pairs)[1]
    assert result["baseline"]["wall_s"] == sorted(p["baseline_s"] for p in pairs)[1]
    ratios = sorted(p["baseline_s"] / p["ours_s"] for p in pairs)
    assert result["pair_speedup"] == pytest.approx(ratios[1])
    assert result["speedup"] == pytest.approx(
        result["baseline"]["wall_s"] / result["ours"]["wall_s"]
    )
    rows = {name: text for name, text, _, _ in bench_scale.scale_rows({"whole_run": result})}
    assert "medians of 3 alternating runs" in rows["whole society run: tiny.toml"]
    with pytest.raises(ValueError, match="pairs"):
        bench_scale.whole_run(scenario, pairs=0)


def test_median_run_is_the_lower_median_or_a_failure():
    runs = [{"wall_s": w, "exit": 0} for w in (5.0, 1.0, 3.0, 9.0)]
    assert bench_scale._median_run(runs)["wall_s"] == 3.0
    assert bench_scale._median_run(runs[:3])["wall_s"] == 3.0
    failed = {"wall_s": 0.5, "exit": 1}
    assert bench_scale._median_run([*runs, failed]) is failed


def _scale_results(scaling_s: float, peak: float) -> dict:
    def size(agents: int, round_s: float) -> dict:
        phases = {"listen": round_s / 4, "speak": round_s / 2, "measure.dialects": round_s / 8}
        return {
            "agents": agents,
            "build_s": 1.0,
            "round_s": round_s,
            "phases": phases,
            "other_s": round_s / 8,
            "process": {"peak_rss_gb": peak, "wall_s": round_s + 1, "cpu_s": 2.0, "exit": 0},
        }

    ngram = {"sizes": [size(1000, 2.0), size(10000, scaling_s)]}
    ngram["scaling_10000_over_1000"] = scaling_s / 2.0
    ngram["process_scaling_10000_over_1000"] = (scaling_s + 1) / 3.0
    whole = {
        "scenario": "/x/big.toml",
        "ours": {"wall_s": 10.0, "peak_rss_gb": 0.5, "cpu_s": 9.0, "exit": 0},
        "baseline": {"wall_s": 50.0, "peak_rss_gb": 1.0, "cpu_s": 49.0, "exit": 0},
        "speedup": 5.0,
        "cpu_speedup": 49.0 / 9.0,
        "target": 4.0,
    }
    return {"ngram": ngram, "whole_run": whole}


@pytest.mark.parametrize(
    ("seconds", "peak", "scaling", "memory"), [(15.0, 3.0, True, True), (30.0, 5.0, False, False)]
)
def test_scale_verdicts(seconds, peak, scaling, memory):
    got = bench.verdicts(_scale_results(seconds, peak))
    assert got["ngram_scaling"] is scaling and got["ngram_10000_gb"] is memory
    assert got["whole_run_speedup"] is True
    assert bench.verdicts({})["whole_run_speedup"] is None


def test_the_table_shows_sizes_phases_and_the_whole_run():
    results = _scale_results(15.0, 3.0)
    results["verdicts"] = bench.verdicts(results)
    console = Console(record=True, width=200)
    bench.print_results(results, console)
    text = console.export_text()
    assert "n-gram round, 10000 agents" in text and "7.5x" in text
    assert "10.0 s, peak 0.50 GB vs 50.0 s, peak 1.00 GB = 5.0x (CPU seconds 5.4x)" in text
    assert "measure.dialects" in text and "other" in text and "10000 agents" in text


def test_the_cli_passes_sizes_scenario_and_baseline(monkeypatch, tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text(TINY)
    seen = {}

    def fake_run(**kwargs):
        seen.update(kwargs)
        results = _scale_results(15.0, 3.0)
        results["verdicts"] = bench.verdicts(results)
        return results

    monkeypatch.setattr(bench, "run_bench", fake_run)
    out = tmp_path / "b.json"
    args = ["bench", "--only", "ngram,whole_run", "--agents", "1000,10000", "--json", str(out)]
    args += ["--scenario", str(scenario), "--baseline-python", sys.executable]
    more = ["--baseline-script", "old.py", "--pairs", "3", "--scale", "10000"]
    result = CliRunner().invoke(app, [*args, *more])
    assert result.exit_code == 0, result.output
    assert seen["agents"] == (1000, 10000) and seen["only"] == ["ngram", "whole_run"]
    assert seen["pairs"] == 3 and seen["scale"] == 10000
    assert seen["scenario"] == scenario and seen["baseline_script"] == "old.py"
    assert json.loads(out.read_text())["whole_run"]["speedup"] == 5.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agents", "10,x"], "--agents"),
        (["--agents", "1"], "at least 2"),
        (["--scenario", "/no/such.toml"], "no such file"),
        (["--baseline-script", "old.py"], "needs --baseline-python"),
    ],
)
def test_bad_scale_options_are_one_line_errors(args, message):
    result = CliRunner().invoke(app, ["bench", *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_whole_run_times_the_default_scenario_at_a_larger_size(tmp_path, monkeypatch):
    template = TINY.replace("agents = 4", "agents = {agents}")
    assert template != TINY
    monkeypatch.setattr(bench_scale, "WHOLE_RUN_SCENARIO", template)
    result = bench_scale.whole_run(None, agents=3, scale=6)
    scale = result["scale"]
    assert scale["agents"] == 6 and scale["base_agents"] == 3
    assert scale["base"] is result["ours"]  # the default scenario's own run is the base
    assert scale["ratio"] == pytest.approx(scale["run"]["wall_s"] / result["ours"]["wall_s"])
    rows = {
        name: (text, met) for name, text, _, met in bench_scale.scale_rows({"whole_run": result})
    }
    assert rows["whole society run, 6 / 3 agents"][1] == (scale["ratio"] <= 10)
    verdicts = bench.verdicts({"whole_run": result})
    assert verdicts["whole_run_scaling"] is (scale["ratio"] <= 10)
    assert verdicts["whole_run_10000_gb"] is True


def test_the_memory_of_a_process_tree_is_summed(tmp_path):
    child = "x = bytearray(300_000_000); import time; time.sleep(1.5)"
    parent = (
        "import subprocess, sys, time; x = bytearray(300_000_000); "
        f"subprocess.run([sys.executable, '-c', {child!r}])"
    )
    usage = bench_scale.timed_process([sys.executable, "-c", parent])
    assert usage["exit"] == 0
    assert usage["tree_peak_gb"] > 0.55  # both at once
    assert 0.28 < usage["peak_rss_gb"] < 0.5  # the largest single process
    assert bench_scale.peak_gb(usage) == usage["tree_peak_gb"]
