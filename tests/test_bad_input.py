"""A corpus of nonsense input: each case is one line ``error: ...``, exit 2, nothing written.

Every case is checked the same way: exit code 2, exactly one line on stderr starting with
``error:`` (and naming the file or option at fault), no traceback, and no run directory.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from typer.testing import CliRunner

from society.app.cli import app

runner = CliRunner()
FAST = [
    "--set", "speech.utterances=10",
    "--set", "real_data.max_texts=300",
    "--set", "tokenizer.vocab_size=500",
]  # fmt: skip

EV = '[[events]]\nround = 1\naction = "{action}"\n{rest}\n'


def event(action: str, rest: str = "") -> str:
    """One ``[[events]]`` table."""
    return EV.format(action=action, rest=rest)


#: id -> (scenario body after ``name``/``rounds``, extra CLI arguments, expected text)
RUN: dict[str, tuple[str, list[str], str]] = {
    # the file itself
    "toml syntax": ("[network\n", [], "invalid TOML"),
    "toml duplicate key": ("seed = 1\nseed = 2\n", [], "invalid TOML"),
    "unknown top key": ("colour = 3\n", [], "colour: unknown key"),
    "unknown section": ("[weather]\nrain = 1\n", [], "weather: unknown key"),
    "unknown speech key": ("[speech]\nwords = 3\n", [], "speech.words: unknown key"),
    "section is a number": ("speech = 3\n", [], "speech"),
    "rounds negative": ("", ["--set", "rounds=-1"], "rounds"),
    "rounds string": ("", ["--set", "rounds='ten'"], "rounds"),
    "rounds float": ("", ["--set", "rounds=2.5"], "rounds"),
    "seed string": ("", ["--set", "seed='x'"], "seed"),
    "seed negative": ("", ["--set", "seed=-1"], "seed: must be >= 0"),
    "seed option negative": ("", ["--seed", "-5"], "seed: must be >= 0"),
    "split seed negative": ("[real_data]\nsplit_seed = -2\n", [], "real_data.split_seed"),
    "description table": ("[description]\nx = 1\n", [], "description"),
    # numbers
    "temperature inf": ("[speech]\ntemperature = inf\n", [], "speech.temperature"),
    "temperature nan": ("[speech]\ntemperature = nan\n", [], "speech.temperature"),
    "temperature zero": ("[speech]\ntemperature = 0\n", [], "speech.temperature"),
    "temperature negative": ("[speech]\ntemperature = -1.0\n", [], "speech.temperature"),
    "temperature string": ("[speech]\ntemperature = 'hot'\n", [], "speech.temperature"),
    "top_p zero": ("[speech]\ntop_p = 0\n", [], "speech.top_p"),
    "top_p above one": ("[speech]\ntop_p = 1.5\n", [], "speech.top_p"),
    "utterances zero": ("", ["--set", "speech.utterances=0"], "speech.utterances"),
    "max_tokens zero": ("[speech]\nmax_tokens = 0\n", [], "speech.max_tokens"),
    "prompt unknown": ("[speech]\nprompt = 'loud'\n", [], "speech.prompt"),
    "neural sampling on ngram": ("[speech]\ntop_k = 5\n", [], "speech.top_k"),
    "network weight inf": ("[network]\nweight = inf\n", [], "network.weight"),
    "network weight nan": ("[network]\nweight = nan\n", [], "network.weight"),
    "network weight zero": ("[network]\nweight = 0\n", [], "network.weight"),
    "network weight huge": ("[network]\nweight = 1e300\n", [], "network.weight"),
    "self weight huge": (
        "[listening]\ninclude_self = true\nself_weight = 1e200\n",
        [],
        "listening.self_weight",
    ),
    "self weight inf": ("[listening]\nself_weight = inf\n", [], "listening.self_weight"),
    "self weight zero": ("[listening]\nself_weight = 0\n", [], "listening.self_weight"),
    "listening texts zero": ("[listening]\ntexts = 0\n", [], "listening.texts"),
    "fraction above one": ("[real_data]\nfraction = 2\n", [], "real_data.fraction"),
    "fraction negative": ("[real_data]\nfraction = -0.1\n", [], "real_data.fraction"),
    "fraction nan": ("[real_data]\nfraction = nan\n", [], "real_data.fraction"),
    "holdout zero": ("[real_data]\nholdout = 0\n", [], "real_data.holdout"),
    "holdout one": ("[real_data]\nholdout = 1\n", [], "real_data.holdout"),
    "max_texts one": ("", ["--set", "real_data.max_texts=1"], "real_data.max_texts"),
    "unit unknown": ("[real_data]\nunit = 'word'\n", [], "real_data.unit"),
    "schedule decreasing": (
        "[real_data]\nschedule = [[3, 0.1], [1, 0.2]]\n",
        [],
        "real_data",
    ),
    "schedule above one": ("[real_data]\nschedule = [[1, 3.0]]\n", [], "real_data"),
    "schedule inf": ("[real_data]\nschedule = [[1, inf]]\n", [], "real_data"),
    "community label word": ("[real_data.communities]\nabc = 'kjv'\n", [], "real_data"),
    "vocab tiny": ("", ["--set", "tokenizer.vocab_size=10"], "tokenizer.vocab_size"),
    "vocab huge": ("", ["--set", "tokenizer.vocab_size=10000000"], "tokenizer.vocab_size"),
    "min_frequency zero": ("[tokenizer]\nmin_frequency = 0\n", [], "tokenizer.min_frequency"),
    "token noise above one": ("[mutation]\ntoken_noise = 2\n", [], "mutation.token_noise"),
    "temperature schedule zero": (
        "[mutation]\ntemperature_schedule = [[1, 0.0]]\n",
        [],
        "mutation",
    ),
    "temperature schedule inf": (
        "[mutation]\ntemperature_schedule = [[1, inf]]\n",
        [],
        "mutation",
    ),
    "temperature schedule order": (
        "[mutation]\ntemperature_schedule = [[2, 1.0], [1, 1.0]]\n",
        [],
        "mutation",
    ),
    "learning data unknown": ("[learning]\ndata = 'all'\n", [], "learning.data"),
    "window zero": ("[learning]\nwindow = 0\n", [], "learning.window"),
    "metrics every zero": ("[metrics]\nevery = 0\n", [], "metrics.every"),
    "metrics pairs unknown": ("[metrics]\npairs = 'some'\n", [], "metrics.pairs"),
    "tail share one": ("[metrics]\ntail_share = 1\n", [], "metrics.tail_share"),
    "selection unknown": ("[selection]\nby = 'luck'\n", [], "selection.by"),
    "selection strength negative": ("[selection]\nstrength = -1\n", [], "selection.strength"),
    "selection strength inf": ("[selection]\nstrength = inf\n", [], "selection.strength"),
    "checkpoints negative": ("[checkpoints]\nevery = -1\n", [], "checkpoints.every"),
    # curation
    "critic unknown": ("[curation]\ncritic = 'judge'\n", [], "curation.critic"),
    "keep_best without critic": ("[curation]\nkeep_best = 0.5\n", [], "curation"),
    "max_perplexity one": (
        "[curation]\ncritic = 'ancestor'\nmax_perplexity = 1\n",
        [],
        "curation.max_perplexity",
    ),
    "min above max words": (
        "[curation]\nmin_words = 10\nmax_words = 3\n",
        [],
        "curation.min_words",
    ),
    "verifier accuracy above one": (
        "[curation]\nverifier_accuracy = 1.5\n",
        [],
        "curation.verifier_accuracy",
    ),
    "labels missing": ("[curation]\nlabels = 'nope.csv'\n", [], "curation"),
    "labels empty path": ("[curation]\nlabels = ''\n", [], "curation"),
    "min words above max tokens": ("[curation]\nmin_words = 1000\n", [], "curation.min_words"),
    "a billion agents": ('[network]\nkind = "ring"\nagents = 1000000000\n', [], "network.agents"),
    "caveman too big": (
        '[network]\nkind = "caveman"\ncommunities = 100000\nsize = 100\n',
        [],
        "network.communities x size",
    ),
    # paths and data
    "source empty": ('[real_data]\nsource = ""\n', [], "real_data.source: is empty"),
    "source blank": ('[real_data]\nsource = "  "\n', [], "real_data.source: is empty"),
    "source missing": ('[real_data]\nsource = "nope.txt"\n', [], "real_data.source"),
    "source empty file": ('[real_data]\nsource = "empty.txt"\n', [], "real_data.source"),
    "source empty folder": ('[real_data]\nsource = "nothing"\n', [], "real_data.source"),
    "source binary": ('[real_data]\nsource = "binary.txt"\n', [], "real_data.source"),
    "source one text": ('[real_data]\nsource = "one.txt"\n', [], "real_data.source"),
    "source bad jsonl": ('[real_data]\nsource = "bad.jsonl"\n', [], "real_data.source"),
    "community source empty": (
        '[real_data.communities]\n1 = ""\n',
        [],
        "real_data.communities.1",
    ),
    "community source missing": (
        '[real_data.communities]\n1 = "nope.txt"\n',
        [],
        "real_data.communities.1",
    ),
    "graph path empty": ('[network]\nkind = "file"\npath = ""\n', [], "network"),
    "graph path missing key": ('[network]\nkind = "file"\n', [], "network"),
    "graph file missing": ('[network]\nkind = "file"\npath = "nope.graphml"\n', [], "network"),
    "graph file broken": ('[network]\nkind = "file"\npath = "bad.graphml"\n', [], "network.path"),
    "graph file type": ('[network]\nkind = "file"\npath = "graph.xyz"\n', [], "network.path"),
    "graph one node": ('[network]\nkind = "file"\npath = "one.graphml"\n', [], "network.path"),
    "graph huge weight": ('[network]\nkind = "file"\npath = "huge.edges"\n', [], "network"),
    "graph inf weight": ('[network]\nkind = "file"\npath = "inf.edges"\n', [], "network.path"),
    "graph negative weight": ('[network]\nkind = "file"\npath = "neg.edges"\n', [], "network"),
    "graph bad row": ('[network]\nkind = "file"\npath = "row.edges"\n', [], "network.path"),
    "graph isolated node": (
        '[network]\nkind = "file"\npath = "isolated.graphml"\n',
        [],
        "network: node",
    ),
    "graph no edges": (
        '[network]\nkind = "file"\npath = "noedges.graphml"\n',
        [],
        "network: the graph has no edges",
    ),
    # generators
    "kind unknown": ('[network]\nkind = "torus"\n', [], "network.kind"),
    "complete one agent": ('[network]\nkind = "complete"\nagents = 1\n', [], "network"),
    "agents zero": ('[network]\nkind = "ring"\nagents = 0\n', [], "network.agents"),
    "star one agent": ('[network]\nkind = "star"\nagents = 1\n', [], "network"),
    "small world k too big": (
        '[network]\nkind = "small_world"\nagents = 5\nk = 6\n',
        [],
        "network",
    ),
    "scale free m too big": (
        '[network]\nkind = "scale_free"\nagents = 3\nm = 3\n',
        [],
        "network",
    ),
    "caveman size two": ('[network]\nkind = "caveman"\ncommunities = 3\nsize = 2\n', [], "network"),
    "lattice not divisible": (
        '[network]\nkind = "lattice"\nagents = 7\nrows = 2\n',
        [],
        "network",
    ),
    "sbm without edges": (
        '[network]\nkind = "sbm"\ncommunities = 2\nsize = 3\np_in = 0\np_out = 0\n',
        [],
        "the graph has no edges",
    ),
    "p above one": ('[network]\nkind = "small_world"\np = 2\n', [], "network.p"),
    # events
    "event unknown action": (event("explode"), [], "events.0"),
    "event round zero": (
        '[[events]]\nround = 0\naction = "isolate_communities"\n',
        [],
        "events.0.isolate_communities.round",
    ),
    "event after last round": (
        '[[events]]\nround = 9\naction = "isolate_communities"\n',
        [],
        "events.0.round",
    ),
    "event missing action": ("[[events]]\nround = 1\n", [], "events.0"),
    "event unknown key": (event("isolate_communities", "colour = 1"), [], "events.0"),
    "connect missing community": (
        event("connect", "communities = [0, 7]"),
        [],
        "events.0.communities: no community 7",
    ),
    "connect weight inf": (event("connect", "weight = inf"), [], "events.0"),
    "connect weight huge": (event("connect", "weight = 1e300"), [], "events.0.weight"),
    "cut missing node": (event("cut_edges", "edges = [[0, 99]]"), [], "events.0.edges"),
    "migrate missing node": (
        event("migrate", "nodes = [42]\nto = 1"),
        [],
        "events.0.nodes: no agent on node 42",
    ),
    "migrate missing community": (
        event("migrate", "count = 1\ncommunity = 9\nto = 1"),
        [],
        "events.0.community",
    ),
    "migrate two choices": (event("migrate", "nodes = [0]\ncount = 1\nto = 1"), [], "events.0"),
    "migrate no choice": (event("migrate", "to = 1"), [], "events.0"),
    "add to missing community": (
        event("add_agents", "community = 5"),
        [],
        "events.0.community: no community 5",
    ),
    "add zero agents": (event("add_agents", "count = 0"), [], "events.0"),
    "remove missing node": (event("remove_agents", "nodes = [99]"), [], "events.0.nodes"),
    "remove every node": (
        event("remove_agents", "nodes = [0, 1, 2, 3, 4, 5, 6, 7]"),
        [],
        "removes every agent",
    ),
    "remove everyone by share": (event("remove_agents", "share = 1.0"), [], "removes every"),
    "remove everyone by count": (event("remove_agents", "count = 50"), [], "removes every"),
    "remove in two steps": (
        event("remove_agents", "count = 4") + event("remove_agents", "count = 4"),
        [],
        "events.1: removes every agent",
    ),
    "remove a removed node": (
        event("remove_agents", "nodes = [3]") + event("commit", "nodes = [3]"),
        [],
        "events.1.nodes: no agent on node 3",
    ),
    "commit missing node": (event("commit", "nodes = [77]"), [], "events.0.nodes"),
    "commit missing community": (
        event("commit", "count = 1\ncommunity = 4"),
        [],
        "events.0.community",
    ),
    "commit share above one": (event("commit", "share = 2"), [], "events.0"),
    "set unknown key": (event("set", 'key = "speech.words"\nvalue = 1'), [], "events.0.key"),
    "set read-once key": (event("set", 'key = "network.kind"\nvalue = "ring"'), [], "events.0.key"),
    "set bad value": (
        event("set", 'key = "speech.temperature"\nvalue = -1'),
        [],
        "events.0.value",
    ),
    "set inf value": (event("set", 'key = "speech.temperature"\nvalue = inf'), [], "events.0"),
    "set nan fraction": (event("set", 'key = "real_data.fraction"\nvalue = nan'), [], "events.0"),
    "set missing value": (event("set", 'key = "speech.temperature"'), [], "events.0"),
    # language model
    "model kind unknown": ('[language_model]\nkind = "oracle"\n', [], "language_model"),
    "model path empty": (
        '[language_model]\nkind = "transformer"\npath = ""\n',
        [],
        "language_model.path: is empty",
    ),
    "model path missing": (
        '[language_model]\nkind = "transformer"\npath = "nope-model"\n',
        [],
        "nope-model is not a checkpoint directory",
    ),
    "model pickle only": (
        '[language_model]\nkind = "transformer"\npath = "pickled"\n',
        [],
        "language_model.path: ",
    ),
    "model unknown key": ("[language_model]\nlayers = 2\n", [], "language_model.layers"),
    "transformer bad key": (
        '[language_model]\nkind = "transformer"\norder = 3\n',
        [],
        "language_model.order",
    ),
    # --set on the command line
    "set syntax": ("", ["--set", "rounds"], "--set rounds"),
    "set into a value": ("", ["--set", "seed.x=1"], "seed"),
    "set unknown": ("", ["--set", "speech.colour=1"], "speech.colour"),
    "set into events": ("", ["--set", "events.5.round=1"], "events"),
}


def _files(root: Path) -> None:
    """The small files the cases point at."""
    (root / "empty.txt").write_text("\n  \n")
    (root / "one.txt").write_text("Only one sentence here")
    (root / "binary.txt").write_bytes(b"\xff\xfe\x00\x81" * 50)
    (root / "bad.jsonl").write_text('{"text": "a"}\n{not json\n')
    (root / "nothing").mkdir()
    (root / "bad.graphml").write_text("<graphml><not closed")
    (root / "graph.xyz").write_text("0 1\n")
    (root / "huge.edges").write_text("0 1 1e300\n1 2 1e300\n2 0 1\n")
    (root / "inf.edges").write_text("0 1 inf\n1 2\n2 0\n")
    (root / "neg.edges").write_text("0 1 -3\n1 2\n2 0\n")
    (root / "row.edges").write_text("0 1 2 3 4\n")
    one = nx.Graph()
    one.add_node("a")
    nx.write_graphml(one, root / "one.graphml")
    isolated = nx.cycle_graph(4)
    isolated.add_node(9)
    nx.write_graphml(isolated, root / "isolated.graphml")
    empty = nx.empty_graph(4)
    nx.write_graphml(empty, root / "noedges.graphml")
    pickled = root / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text('{"model_type": "gpt2", "n_layer": 1}')
    (pickled / "pytorch_model.bin").write_bytes(b"not really a pickle")


def _check(result, out: Path, expected: str) -> None:  # noqa: ANN001
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert not out.exists(), sorted(p.name for p in out.iterdir())


@pytest.mark.parametrize("case", RUN, ids=list(RUN))
def test_run_refuses_nonsense(tmp_path, case):
    body, args, expected = RUN[case]
    _files(tmp_path)
    path = tmp_path / "scenario.toml"
    path.write_text(f'name = "t"\nrounds = 2\n{body}')
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(path), "--out", str(out), *FAST, *args])
    _check(result, out, expected)


@pytest.mark.parametrize("case", list(RUN)[:60], ids=list(RUN)[:60])
def test_validate_refuses_the_same_nonsense(tmp_path, case):
    body, args, expected = RUN[case]
    if "--seed" in args:
        pytest.skip("validate has no --seed")
    _files(tmp_path)
    path = tmp_path / "scenario.toml"
    path.write_text(f'name = "t"\nrounds = 2\n{body}')
    result = runner.invoke(app, ["validate", str(path), *FAST, *args])
    _check(result, tmp_path / "run", expected)


def _scenario(root: Path) -> Path:
    path = root / "scenario.toml"
    path.write_text('name = "t"\nrounds = 1\n')
    return path


OUT_CASES = {
    "out is a file": lambda root: (root / "afile").write_text("x") and root / "afile",
    "out is not empty": lambda root: (
        (
            (root / "full").mkdir(),
            (root / "full" / "x").write_text("x"),
        )
        and root / "full"
    ),
    "out under a file": lambda root: (root / "afile").write_text("x") and root / "afile" / "run",
}


@pytest.mark.parametrize("case", OUT_CASES, ids=list(OUT_CASES))
def test_run_refuses_an_unusable_out(tmp_path, case):
    out = OUT_CASES[case](tmp_path)
    scenario = _scenario(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out), *FAST])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {out}")
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(before)


COMMANDS = {
    "scenario missing": (["run", "{root}/nope.toml"], "scenario file not found"),
    "scenario is a folder": (["run", "{root}/nothing"], "scenario file not found"),
    "scenario not utf-8": (["run", "{root}/binary.txt"], "not UTF-8"),
    "no scenario": (["run"], "give a scenario"),
    "viz port too big": (["viz", "{root}/scenario.toml", "--port", "70000"], "--port: 70000"),
    "viz port negative": (["viz", "{root}/scenario.toml", "--port", "-1"], "--port: -1"),
    "viz bad scenario": (["viz", "{root}/empty.txt"], "invalid TOML"),
    "resume not a run": (["run", "--resume", "{root}/nothing"], "not a run directory"),
    "resume missing": (["run", "--resume", "{root}/nope"], "not a run directory"),
    "resume with a scenario": (
        ["run", "{root}/scenario.toml", "--resume", "{root}/nothing"],
        "--resume RUN: give no scenario",
    ),
    "seed not a number": (["run", "{root}/scenario.toml", "--seed", "abc"], "'--seed'"),
    "unknown option": (["run", "{root}/scenario.toml", "--bogus"], "No such option: --bogus"),
    "unknown command": (["frobnicate"], "No such command 'frobnicate'"),
    "viz port not a number": (["viz", "{root}/scenario.toml", "--port", "abc"], "'--port'"),
    "sweep zero workers": (
        ["sweep", "{root}/scenario.toml", "--out", "{root}/sw", "--workers", "0"],
        "'--workers'",
    ),
    "sweep zero seeds": (
        ["sweep", "{root}/scenario.toml", "--out", "{root}/sw", "--seeds", "0"],
        "'--seeds'",
    ),
    "sweep without out": (["sweep", "{root}/scenario.toml"], "Missing option '--out'"),
    "sweep bad grid": (
        ["sweep", "{root}/scenario.toml", "--out", "{root}/sw", "--grid", "speech.temperature"],
        "--grid",
    ),
    "sweep of a one-agent graph": (
        [
            "sweep",
            "{root}/scenario.toml",
            "--out",
            "{root}/sw",
            "--grid",
            "events=[]",
            "--set",
            "network.kind='complete'",
            "--set",
            "network.agents=1",
        ],
        "network",
    ),
    "talk agent not a number": (["talk", "{root}/nothing", "--agent", "x"], "'--agent'"),
    "annotate without round": (["annotate", "{root}/nothing", "--out", "x.csv"], "'--round'"),
    "report nothing": (["report", "{root}/nothing"], "nothing"),
    "resume a done run": (["run", "--resume", "{root}/done"], "already done"),
    "resume a live run": (["run", "--resume", "{root}/live"], "still running"),
}


@pytest.mark.parametrize("case", COMMANDS, ids=list(COMMANDS))
def test_commands_refuse_nonsense(tmp_path, case):
    import json
    import os
    import socket

    _files(tmp_path)
    _scenario(tmp_path)
    (tmp_path / "empty.txt").write_text("[broken")
    for name, status, pid in (("done", "done", 1), ("live", "running", os.getppid())):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.toml").write_text('name = "t"\n')
        manifest = {"status": status, "pid": pid, "host": socket.gethostname(), "rounds": 1}
        (tmp_path / name / "manifest.json").write_text(json.dumps(manifest))
    argv, expected = COMMANDS[case]
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = runner.invoke(app, [a.format(root=tmp_path) for a in argv])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, (result.output, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


EXPERIMENT = """
scenario = "scenario.toml"
seeds = 2
[conditions.a]
seed = 0
[conditions.b]
seed = 1
[[hypotheses]]
metric = "perplexity"
direction = "a > b"
{extra}
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("round = 9", "hypotheses.0.round: round 9 is after the last round 2"),
        ("baseline = 5", "hypotheses.0.baseline: round 5 is after"),
    ],
    ids=["hypothesis round", "hypothesis baseline"],
)
def test_experiment_refuses_hypothesis_rounds_past_the_end(tmp_path, extra, expected):
    (tmp_path / "scenario.toml").write_text('name = "t"\nrounds = 2\n')
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT.format(extra=extra))
    out = tmp_path / "out"
    result = runner.invoke(app, ["experiment", str(path), "--out", str(out)])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert not out.exists()
