"""scripts/device_check.sh: the GPU check's steps, run here on the CPU path (tiny sizes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "device_check.sh"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_without_cuda_the_check_refuses_in_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "check"
    result = run(str(out))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: device_check: no CUDA device (torch.cuda.is_available() is False); "
        "--cpu runs the CPU path"
    ]
    assert not out.exists()


def test_the_cpu_path_writes_the_bench_and_the_lora_run_as_json(tmp_path):
    out = tmp_path / "check"
    result = run(str(out), "--cpu")
    assert result.returncode == 0, result.stderr[-2000:]
    bench = json.loads((out / "bench.json").read_text())
    assert bench["machine"]["device"] == "cpu"
    lora = bench["lora_population"]
    assert lora["device"] == "cpu" and lora["speedup"] > 0 and lora["bytes_per_agent"] > 0
    run_ = json.loads((out / "lora_run.json").read_text())
    assert run_["device"] == "cpu" and run_["status"] == "done"
    assert run_["agents"] == 4 and run_["rounds"] == 1 and run_["seconds"] > 0
    config = (out / "lora_run" / "config.toml").read_text()
    assert "lora = true" in config
