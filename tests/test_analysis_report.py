import re

import pandas as pd
from typer.testing import CliRunner

from analysis import load_run
from analysis.report import CAPTIONS, summary_table
from analysis.runs import load_runs
from society.app.cli import app
from tests._runs import tiny_report, tiny_run


def test_report_is_self_contained_with_every_caption():
    html = tiny_report().read_text()
    assert html.startswith("<!DOCTYPE html>")
    sources = re.findall(r'src="([^"]+)"', html)
    assert sources and all(
        s.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for s in sources
    )
    assert not re.search(r'(href|src)="(https?:)?//', html)
    assert "<script" not in html
    for key in (
        "diversity",
        "distribution",
        "dialects",
        "heatmaps",
        "map",
        "gif",
        "network",
        "neologisms",
        "ancestor",
        "rank",
    ):
        assert CAPTIONS[key].split(".")[0].replace("'", "&#x27;") in html, key


def test_samples_per_dialect_at_first_middle_last_rounds():
    run = load_run(tiny_run())
    html = tiny_report().read_text()
    section = html.split("What the dialects said (rounds 0, 2, 4)")[1]
    said = run.samples([0, 2, 4])
    shown = re.findall(r'<td class="text utterance">([^<]*)</td>', section)
    assert shown
    escaped = {
        t.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
        for t in said["text"]
    }
    assert set(shown) <= escaped
    # three utterances per dialect per round (each dialect has >= 1 agent with 40 texts)
    dialects = run.agents[run.agents["round"].isin([0, 2, 4])].groupby("round")["dialect"]
    assert len(shown) == 3 * dialects.nunique().sum()


def test_summary_table_reads_first_and_last_rounds():
    runs = load_runs([tiny_run()])
    table = summary_table(runs)
    rounds = runs.rounds
    first, last = rounds["perplexity"].iloc[0], rounds["perplexity"].iloc[-1]
    assert table.loc[0, "held-out perplexity"] == f"{first:.4g} → {last:.4g}"
    assert table.loc[0, "status"] == "done"
    assert isinstance(table, pd.DataFrame)


def test_cli_report_passes_runs_and_out_and_rejects_bad_paths(tmp_path, monkeypatch):
    import analysis.report

    calls = []
    monkeypatch.setattr(
        analysis.report,
        "write_report",
        lambda runs, out, on_findings: calls.append((runs, out)) or out,
    )
    runner = CliRunner()
    out = tmp_path / "report.html"
    ok = runner.invoke(app, ["report", "runs/a", "runs/b*", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert calls == [(["runs/a", "runs/b*"], out)]
    monkeypatch.undo()
    bad = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert bad.exit_code == 2
    assert "not a run directory" in bad.output
    assert "Traceback" not in bad.output


def test_cli_report_prints_the_findings_it_wrote(tmp_path):
    from analysis.findings import findings

    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", str(tiny_run()), "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert printed.startswith("Findings Dialects. ")
    for item in findings(load_runs(str(tiny_run()))):
        assert f"{item.topic.capitalize()}. {item.text}" in printed
    assert printed.endswith(f"report: {out}")


def test_scenario_comment_is_read_from_the_scenario_file(tmp_path):
    from analysis.report import scenario_comment

    scenario = tmp_path / "q.toml"
    scenario.write_text("# Question: do islands drift?\n# Expected: yes.\nname = 'q'\n# later\n")
    run = load_run(tiny_run())
    run.manifest = {"command": f"society run {scenario} --seed 3"}
    assert scenario_comment(run) == "Question: do islands drift?\nExpected: yes."
    run.manifest = {"command": "society run missing.toml"}
    assert scenario_comment(run) == ""


def test_report_of_an_experiment_links_its_verdict(tmp_path):
    import shutil

    from analysis.report import write_report

    experiment = tmp_path / "exp"
    shutil.copytree(tiny_run(), experiment / "runs" / "condition=a" / "seed=3")
    (experiment / "verdict.md").write_text("# Verdict\n\nisolation raises divergence: holds\n")
    out = write_report(experiment, tmp_path / "report.html")
    html = out.read_text()
    findings = html.split('<section id="findings">')[1].split("</section>")[0]
    assert 'class="verdict" href="exp/verdict.md"' in findings
    assert "isolation raises divergence: holds" in findings


def test_events_are_listed_as_sentences_not_dicts():
    from analysis.report import event_line

    event = {
        "round": 9,
        "action": "connect",
        "detail": "added 6 bridges between communities 0 and 1",
        "event": {"round": 9, "action": "connect", "communities": [0, 1], "bridges": 6},
    }
    assert event_line(event) == (
        "Round 9: connect communities=[0, 1], bridges=6: "
        "added 6 bridges between communities 0 and 1"
    )
    assert event_line({"round": 1, "action": "isolate_communities"}) == (
        "Round 1: isolate_communities"
    )
    html = tiny_report().read_text()
    assert "<li>Round 1: isolate_communities: removed" in html
    assert "{&#x27;round&#x27;" not in html


def test_narrow_table_run_names_drop_what_every_run_shares():
    from types import SimpleNamespace

    from analysis.report import short_names

    names = [f"runs/sw/runs/a={a}/seed={s}" for a in (1, 2) for s in (5, 6)]
    runs = SimpleNamespace(runs=[SimpleNamespace(name=n) for n in names])
    labels = pd.Series([f"a={n.split('a=')[1][0]}" for n in names], index=names)
    assert list(short_names(runs, labels).values()) == ["seed=5", "seed=6"] * 2
    one = pd.Series("all runs", index=names)
    assert list(short_names(runs, one).values()) == [
        "a=1/seed=5",
        "a=1/seed=6",
        "a=2/seed=5",
        "a=2/seed=6",
    ]


def test_shared_legend_takes_fewer_columns_for_long_condition_names():
    from analysis.curves import legend_columns

    assert legend_columns(["a=1", "a=2", "a=3"], 12) == 3
    long = ["events.1.bridges=1, events.2.bridges=1, events.3.bridges=1"] * 3
    assert legend_columns(long, 8) == 1
    assert legend_columns(long, 12) == 2
    assert legend_columns([], 8) == 1
