"""`pip install society` without extras: the n-gram instrument, CLI and report run without
torch, transformers, solara or dask, and a command that needs an extra says which in one line.

The light install is imitated in a subprocess whose import system refuses the extras'
packages (a meta-path finder inserted before anything of society is imported), so these
tests run in the full development environment too.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from society.app.extras import EXTRAS

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = ("torch", "transformers", "solara", "dask", "datasets", "distributed", "peft")
BLOCKER = f"""
import importlib.abc, sys
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Blocker())
sys.argv = ["society", *sys.argv[1:]]
from society.app.cli import app
app()
"""
SCENARIO = """\
# Question: does the light install run an n-gram society? Expected: yes.
name = "light"
rounds = 2
[network]
kind = "caveman"
communities = 2
size = 3
[real_data]
max_texts = 600
[speech]
utterances = 15
max_tokens = 20
[tokenizer]
vocab_size = 400
[metrics]
heldout_texts = 30
classifier_agents = 0
mantel_permutations = 0
"""


def light(cache: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "SOCIETY_CACHE": str(cache)},
    )


def test_ngram_run_validate_and_report_need_no_extra(tmp_path):
    scenario = tmp_path / "light.toml"
    scenario.write_text(SCENARIO)
    run = tmp_path / "run"
    done = light(tmp_path, "run", str(scenario), "--out", str(run))
    assert done.returncode == 0, done.stderr
    assert (run / "metrics" / "rounds.parquet").is_file()
    report = light(tmp_path, "report", str(run))
    assert report.returncode == 0, report.stderr
    html = (run / "report.html").read_text()
    assert '<section id="findings">' in html and "dialect" in html
    valid = light(tmp_path, "validate", "scenarios/isolation.toml", "scenarios/islands.toml")
    assert valid.returncode == 0, valid.stderr


@pytest.mark.parametrize(
    ("args", "extra", "module"),
    [
        (["viz", "scenarios/isolation.toml"], "viz", "solara"),
        (
            ["sweep", "SCENARIO", "--out", "OUT", "--scheduler", "tcp://127.0.0.1:9"],
            "cluster",
            "dask",
        ),
        (["run", "scenarios/neural_isolation.toml", "--out", "OUT"], "neural", "torch"),
        (["bench", "--quick"], "neural", "torch"),
    ],
)
def test_a_command_that_needs_an_extra_says_which_in_one_line(tmp_path, args, extra, module):
    scenario = tmp_path / "light.toml"
    scenario.write_text(SCENARIO)
    args = [
        str(scenario) if a == "SCENARIO" else str(tmp_path / "o") if a == "OUT" else a for a in args
    ]
    done = light(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    assert f"'{extra}' extra ({module} is not installed)" in lines[0]
    assert f"pip install 'society[{extra}]'" in lines[0]
    assert "Traceback" not in done.stderr
    assert EXTRAS[module] == extra


def test_pyproject_core_leaves_the_extras_out():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    for package in ("torch", "transformers", "solara", "dask", "datasets"):
        assert package not in core
    assert "mesa>=3.3,<4" in project["dependencies"]
    extras = project["optional-dependencies"]
    assert {"neural", "viz", "cluster", "embeddings", "all"} <= set(extras)
    assert any("torch" in d for d in extras["neural"])
    assert any("solara==" in d for d in extras["viz"])
    assert any("dask" in d for d in extras["cluster"])
