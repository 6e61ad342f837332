import json

import numpy as np
import pytest
from typer.testing import CliRunner

from society.app import bench
from society.app.cli import app
from society.lm.gpt import GPTShape


def test_flops_per_token_known_answer():
    shape = GPTShape(vocab=100, context=16, layers=2, width=8, heads=2)
    matmul = 2 * 12 * 8 * 8 + 100 * 8  # 12 d^2 per block + the output layer
    assert shape.flops_per_token(attended=5) == 6 * matmul + 12 * 2 * 8 * 5
    # parameters: embeddings, 12 d^2 + 13 d per block, final LayerNorm
    assert shape.n_params() == 100 * 8 + 16 * 8 + 2 * (12 * 64 + 13 * 8) + 2 * 8


def test_full_rows_are_full_documents():
    rows = bench._full_rows(3, 8, 50, np.random.default_rng(0))
    assert rows.inputs.shape == (3, 8)
    assert (rows.owner >= 0).all() and (rows.targets >= 0).all()
    np.testing.assert_array_equal(rows.positions[1], np.arange(8))
    assert len(np.unique(rows.docs)) == 3


def fake_results(training=0.5, sampling=4.0, round_=2.0, memory=1.0, agents=64):
    return {
        "matmul": {"flops": 1e11, "bf16_flops": 2e11},
        "training": {
            "alone_share_of_peak": training,
            "alone_tokens_per_s": 1e4,
            "stacked_agents": 8,
            "stacked_tokens_per_s": 6e4,
            "stacked_share_of_peak": 0.4,
        },
        "sampling": {"speedup": sampling, "ours_tokens_per_s": 4e4, "generate_tokens_per_s": 1e4},
        "sampling_full_length": {
            "speedup": 2.0,
            "ours_tokens_per_s": 2e4,
            "generate_tokens_per_s": 1e4,
        },
        "round": {
            "speedup": round_,
            "ours_s": 1.0,
            "naive_s": round_,
            "agents": 8,
            "precision": "bf16",
            "ours_fp32_s": 1.5,
            "speedup_fp32": round_ / 1.5,
        },
        "memory": {"agents": agents, "peak_rss_gb": memory, "rss_gb": memory, "baseline_gb": 0.5},
        "ngram": {"sizes": []},
        "measures": {"agents": 20.0, "identity": 0.001, "dialects": 0.5, "total": 0.501},
    }


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {},
            {
                "training_share": True,
                "sampling_speedup": True,
                "round_speedup": False,
                "memory_gb": True,
            },
        ),
        (
            {"training": 0.2, "sampling": 2.9, "round_": 3.0, "memory": 4.5},
            {
                "training_share": False,
                "sampling_speedup": False,
                "round_speedup": True,
                "memory_gb": False,
            },
        ),
        ({"agents": 16}, {"memory_gb": None}),
    ],
)
def test_verdicts_against_the_issue_targets(kwargs, expected):
    got = bench.verdicts(fake_results(**kwargs))
    assert {k: got[k] for k in expected} == expected


def test_cli_writes_json_and_table(monkeypatch, tmp_path):
    results = fake_results()
    results["verdicts"] = bench.verdicts(results)

    def fake_run(quick, threads, console, device, only, **scale):
        assert quick and threads == 1 and device == "cpu" and only is None
        keys = ("agents", "scenario", "baseline_python", "baseline_script", "scale")
        assert scale == {**dict.fromkeys(keys), "pairs": 1}
        return results

    monkeypatch.setattr(bench, "run_bench", fake_run)
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--quick", "--threads", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["round"]["speedup"] == 2.0
    assert "4.0x" in result.output and "NO" in result.output
    assert "measure dialects" in result.output


def test_measure_times_cover_every_registered_measure():
    from society.metrics.suite import MEASURES

    times = bench.measure_times(agents=6, utterances=20, texts=600)
    names = [cls.name for cls in MEASURES]
    assert list(times) == ["agents", *names, "total"]
    assert times["agents"] == 6
    for name in [*names, "total"]:
        assert isinstance(times[name], float) and times[name] >= 0
    assert times["total"] == sum(times[name] for name in names)


def test_tokens_until_end_counts_each_rows_first_end_and_not_the_padding():
    eos = 0
    generated = np.array(
        [
            [5, 6, 0, 0, 0],  # two tokens, then the end: 3 steps
            [0, 0, 0, 0, 0],  # ends at once: 1 step
            [7, 8, 9, 4, 3],  # never ends: all 5
            [5, 0, 6, 0, 0],  # only the first end counts: 2
        ]
    )
    assert bench.tokens_until_end(generated, eos) == 3 + 1 + 5 + 2


def test_bench_json_has_the_lora_population_item(tmp_path):
    """The real item, shrunk: N LoRA agents on a tiny local base against peft per agent."""
    out = tmp_path / "bench.json"
    args = ["bench", "--only", "lora_population", "--quick", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    lora = data["lora_population"]
    assert lora["device"] == "cpu" and lora["agents"] == 4
    assert lora["speedup"] == pytest.approx(lora["naive_s"] / lora["ours_s"])
    assert lora["ours_tokens_per_s"] > 0 and lora["naive_tokens_per_s"] > 0
    # an agent holds its adapter and two AdamW moments: far less than the base it shares
    assert 0 < lora["bytes_per_agent"] < lora["base_bytes"] / 2
    assert lora["naive_bytes_per_agent"] == lora["base_bytes"] + lora["bytes_per_agent"]
    assert data["verdicts"]["lora_speedup"] == (lora["speedup"] >= 1.5)
    assert "training" not in data and "LoRA round of 4 agents" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "lora,matmul"], "--only: unknown item 'lora'"),
        (["--device", "tpu"], "--device: 'tpu' is not 'cpu' or 'cuda'"),
    ],
)
def test_bench_refuses_bad_items_and_devices_in_one_line(args, message):
    result = CliRunner().invoke(app, ["bench", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA device is present")
def test_bench_on_cuda_without_one_says_so():
    result = CliRunner().invoke(app, ["bench", "--device", "cuda", "--quick"])
    assert result.exit_code == 2
    assert "no CUDA device is available" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_gpu_items_are_the_ones_run_on_cuda_and_training_brings_its_peak():
    assert bench._items("cpu", ["training"]) == ["matmul", "training"]
    assert bench._items("cpu", None) == list(bench.ITEMS)
    if __import__("torch").cuda.is_available():
        assert bench._items("cuda", None) == list(bench.GPU_ITEMS)


def test_print_results_shows_only_what_was_measured():
    from rich.console import Console

    lora = {
        "device": "cpu",
        "agents": 4,
        "ours_s": 1.0,
        "naive_s": 2.0,
        "speedup": 2.0,
        "ours_tokens_per_s": 500.0,
        "bytes_per_agent": 2e5,
        "target": 1.5,
    }
    results = {"lora_population": lora}
    results["verdicts"] = bench.verdicts(results)
    assert results["verdicts"]["lora_speedup"] is True
    assert results["verdicts"]["sampling_speedup"] is None
    console = Console(record=True, width=200)
    bench.print_results(results, console)
    text = console.export_text()
    assert "2.0x" in text and "0.20 MB per agent" in text and "matmul" not in text
