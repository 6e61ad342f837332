import json
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
from typer.testing import CliRunner

from society.app.cli import app

runner = CliRunner()
FAST = [
    "--set", "rounds=2",
    "--set", "speech.utterances=20",
    "--set", "real_data.max_texts=600",
    "--set", "tokenizer.vocab_size=600",
]  # fmt: skip


def scenario(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text('name = "t"\nrounds = 2\n' + body)
    return path


def test_run_writes_a_run_directory(tmp_path):
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["run", str(root / "scenarios" / "isolation.toml"), "--out", str(out), *FAST]
    )
    assert result.exit_code == 0, result.output
    assert f"run directory: {out}" in result.output.replace("\n", "")
    assert "perplexity" in result.output
    assert json.loads((out / "manifest.json").read_text())["status"] == "done"


def test_any_text_corpus_and_graphml_graph(tmp_path, corpus_file):
    graph = nx.Graph()
    graph.add_nodes_from(["ann", "bob", "cy", "dee", "eve"], community="x")
    graph.nodes["eve"]["community"] = "y"
    graph.add_edges_from([("ann", "bob"), ("bob", "cy"), ("cy", "dee"), ("dee", "eve")])
    nx.write_graphml(graph, tmp_path / "g.graphml")
    path = scenario(
        tmp_path,
        f'[real_data]\nsource = "{corpus_file.name}"\n'
        '[network]\nkind = "file"\npath = "g.graphml"\n',
    )
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    agents = pd.read_parquet(out / "metrics" / "agents.parquet")
    assert agents["agent"].nunique() == 5
    assert sorted(agents["community"].unique()) == [0, 1]


BAD = {
    "unknown key": ("[speech]\nwords = 3\n", "speech.words: unknown key"),
    "bad type": ("[speech]\ntemperature = 'hot'\n", "speech.temperature"),
    "missing corpus": ('[real_data]\nsource = "nope.txt"\n', "real_data.source"),
    "empty corpus": ('[real_data]\nsource = "empty.txt"\n', "real_data.source"),
    "bad graph": ('[network]\nkind = "file"\npath = "bad.graphml"\n', "network.path"),
    "bad toml": ("[network\n", "invalid TOML"),
    "set a key read once": (
        '[[events]]\nround = 1\naction = "set"\nkey = "network.kind"\nvalue = "ring"\n',
        "events.0.key: 'network.kind' cannot change mid-run (settable: real_data.{fraction, ",
    ),
    "set a bad value": (
        '[[events]]\nround = 1\naction = "set"\nkey = "speech.temperature"\nvalue = -1\n',
        "events.0.value: speech.temperature = -1: Input should be greater than 0",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, case):
    body, expected = BAD[case]
    (tmp_path / "empty.txt").write_text("\n  \n")
    (tmp_path / "bad.graphml").write_text("<graphml><not closed")
    path = scenario(tmp_path, body)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), *FAST])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}")
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_validate(tmp_path):
    root = Path(__file__).resolve().parent.parent
    good = root / "scenarios" / "isolation.toml"
    bad = scenario(tmp_path, "[speech]\nwords = 3\n")
    result = runner.invoke(app, ["validate", str(good)])
    assert result.exit_code == 0 and "ok:" in result.output
    result = runner.invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert "speech.words: unknown key" in result.stderr


def test_validate_checks_experiment_files_too(tmp_path):
    from pathlib import Path

    from typer.testing import CliRunner

    from society.app.cli import app

    files = sorted(str(p) for p in Path("scenarios/experiments").glob("*.toml"))
    ok = CliRunner().invoke(app, ["validate", *files])
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("ok: ") == len(files) and "conditions x" in ok.output
    text = (
        Path(files[0])
        .read_text()
        .replace('direction = "isolated > connected"', 'direction = "a > b"', 1)
    )
    bad = tmp_path / "bad.toml"
    bad.write_text(
        text.replace('"../islands.toml"', f'"{Path("scenarios/islands.toml").resolve()}"')
    )
    out = CliRunner().invoke(app, ["validate", str(bad)])
    assert out.exit_code == 2
    assert "no condition named 'a'" in out.output and "Traceback" not in out.output
