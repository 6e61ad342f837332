import json

import networkx as nx
import pandas as pd

from analysis import load_run, load_runs, plots
from analysis.findings import collapse_finding, dialect_finding, findings, spread
from analysis.runs import Run
from analysis.spread import classify_innovations
from tests._runs import tiny_run


def run_with(rounds: pd.DataFrame, name: str = "r", fraction: float = 0.0, **tables) -> Run:
    empty = pd.DataFrame()
    return Run(
        path=tiny_run(),
        name=name,
        config={},
        params={"real_data.fraction": fraction},
        manifest={},
        events=tables.pop("events", []),
        rounds=rounds,
        agents=tables.get("agents", empty),
        pairs=empty,
        innovations=tables.get("innovations", empty),
        expressions=empty,
    )


def test_one_run_names_dialects_onset_and_match_from_its_table():
    run = run_with(
        pd.DataFrame(
            {
                "round": [0, 1, 2, 3, 4],
                "dialects": [1, 2, 1, 3, 3],
                "dialect_ari": [0.0, 0.4, 0.0, 0.93, 0.9612],
                "dialect_p": [0.5, 0.01, 0.3, 0.01, 0.02],
            }
        )
    )
    text = dialect_finding([run])
    table = run.rounds.set_index("round")
    last = table.index.max()
    assert f"{int(table.loc[last, 'dialects'])} dialects from round" in text
    assert f"ARI {table.loc[last, 'dialect_ari']:.3g}" in text
    assert "one run" in text
    # onset: the first round from which every measured round has >= 2 dialects
    split = table["dialects"] >= 2
    onset = min(r for r in table.index if split.loc[r:].all())
    assert f"from round {onset}," in text


def test_several_runs_give_a_confidence_interval_clipped_to_the_range():
    assert spread([1.0]) == "1"
    text = spread([0.9, 1.0, 1.0], high=1.0)
    assert "95% CI" in text and "3 runs" in text
    assert text.split("–")[1].startswith("1,") or text.split("–")[1].startswith("1 ")
    rounds = [
        pd.DataFrame({"round": [0, 1, 2], "dialects": d, "dialect_ari": a})
        for d, a in (([1, 2, 2], [0, 1, 1]), ([1, 1, 3], [0, 0, 0.5]))
    ]
    text = dialect_finding([run_with(r) for r in rounds])
    assert "2 of 2 runs end with two or more" in text
    assert "range 2–3" in text
    assert "(median; range 1–2)" in text  # onsets 1 and 2


def test_collapse_against_a_real_data_control():
    treated = run_with(pd.DataFrame({"round": [0, 5], "perplexity": [100.0, 800.0]}))
    control = run_with(
        pd.DataFrame({"round": [0, 5], "perplexity": [100.0, 200.0]}), "c", fraction=1.0
    )
    text = collapse_finding([treated], [control])
    assert "100 at round 0 → 800 at round 5: ×8" in text
    assert "×4 the real-data control" in text
    alone = collapse_finding([treated], [])
    assert "no real-data control" in alone


def test_findings_per_condition_never_print_event_json(tmp_path):
    runs = load_runs([tiny_run()])
    items = findings(runs)
    assert [f.topic for f in items] == ["dialects", "collapse", "contact", "novelty"]
    contact = items[2].text
    assert "Round 1: isolate_communities" in contact
    assert "{" not in contact


def test_condition_labels_name_event_items_not_json():
    runs = load_runs([tiny_run()])
    other = load_run(tiny_run())
    other.name = "other"
    other.params = {**other.params, "events": json.dumps([]), "seed": 4}
    runs.runs.append(other)
    runs.params = pd.DataFrame([{"run": r.name, **r.params} for r in runs.runs])
    runs.varying = [
        c for c in runs.params if c != "run" and runs.params[c].astype(str).nunique() > 1
    ]
    labels = plots.conditions(runs)
    assert all("[" not in label and "{" not in label for label in labels)
    assert labels.nunique() == 2


def test_independent_invention_is_told_apart_from_spread(tmp_path):
    # two islands: nodes 0-1 (community 0) and 2-3 (community 1), no edge between them
    graph = nx.Graph([(0, 1), (2, 3)])
    (tmp_path / "network.json").write_text(json.dumps(nx.node_link_data(graph, edges="edges")))
    agents = pd.DataFrame(
        {"round": [1] * 4, "agent": [1, 2, 3, 4], "node": [0, 1, 2, 3], "community": [0, 0, 1, 1]}
    )
    innovations = pd.DataFrame(
        {
            "round": [1, 1],
            "word": ["zork", "blip"],
            "uses": [3, 2],
            "agents": [3, 2],
            "communities": [2, 1],
            "reach": [-1.0, 1.0],
            "first_round": [1, 1],
            "first_agent": [1, 1],
            "first_node": [0, 0],
        }
    )
    samples = pd.DataFrame(
        {"round": [1, 1, 1], "agent": [1, 2, 3], "text": ["zork blip", "a zork blip", "zork"]}
    )
    run = run_with(pd.DataFrame({"round": [1]}), agents=agents, innovations=innovations)
    run.path = tmp_path
    table = classify_innovations(run, samples).set_index("word")
    assert table.loc["zork", "reached"] == [0]
    assert table.loc["zork", "independent"] == [1]
    assert table.loc["blip", "reached"] == [0]
    assert table.loc["blip", "independent"] == []
    # with a bridge the same word spread instead
    graph.add_edge(1, 2)
    (tmp_path / "network.json").write_text(json.dumps(nx.node_link_data(graph, edges="edges")))
    bridged = classify_innovations(run, samples).set_index("word")
    assert bridged.loc["zork", "reached"] == [0, 1]
    assert bridged.loc["zork", "independent"] == []


def test_contact_credits_each_round_of_events_until_the_next():
    from analysis.findings import contact_finding

    rounds = pd.DataFrame(
        {
            "round": [0, 1, 2, 3, 4, 5],
            "dialects": [1, 2, 3, 3, 2, 1],
            "jsd_unigram_index": [0.0, 0.1, 0.4, 0.5, 0.2, 0.05],
        }
    )
    events = [
        {"round": 1, "action": "isolate_communities", "detail": "removed 3 edges"},
        {"round": 4, "action": "connect", "detail": "added 6 bridges between 0 and 1"},
        {"round": 4, "action": "connect", "detail": "added 6 bridges between 1 and 2"},
    ]
    text = contact_finding([run_with(rounds, events=events)])
    first, second = text.split(" Round 4: ")
    assert "0 before it → 0.5 at round 3; dialects 1 → 3." in first
    assert second.startswith(
        "connect (added 6 bridges between 0 and 1; added 6 bridges between 1 and 2)."
    )
    assert "0.5 before it → 0.05 at round 5; dialects 3 → 1." in second
    assert text.count("Round ") == 2


def test_dialects_that_merged_again_are_reported():
    rounds = pd.DataFrame(
        {
            "round": [0, 1, 2, 3, 4],
            "dialects": [1, 3, 3, 2, 1],
            "dialect_ari": [0.0, 1.0, 1.0, 0.2, 0.0],
        }
    )
    text = dialect_finding([run_with(rounds)])
    assert text.startswith("One dialect at round 4; earlier the agents had split")
    assert "two or more dialects in rounds 1–3" in text
    assert "at best 3 dialects, ARI with the" in text and "1 in rounds 1–2" in text
    still = rounds.assign(dialects=[1, 1, 1, 1, 1])
    assert "did not split" in dialect_finding([run_with(still)])
    several = dialect_finding([run_with(rounds), run_with(rounds.assign(dialects=[1, 2, 2, 2, 2]))])
    assert "1 of 2 runs end with two or more" in several
    assert "1 other run(s) had split earlier and merged again" in several


def test_equal_dialect_counts_are_not_a_range():
    rounds = pd.DataFrame({"round": [0, 1], "dialects": [1, 2], "dialect_ari": [0.0, 1.0]})
    text = dialect_finding([run_with(rounds), run_with(rounds)])
    odd = dialect_finding([run_with(rounds), run_with(rounds.assign(dialects=[1, 5]))])
    assert odd.startswith("Dialects at round 1: 3.5 (median; range 2–5)")
    assert text.startswith("Dialects at round 1: 2 (every one of 2 runs); 2 of 2 runs end with")


def test_novelty_in_one_community_says_nothing_of_spread_between_communities():
    from analysis.findings import novelty_finding

    run = load_run(tiny_run())
    assert "spread along the network" in novelty_finding([run])
    run.agents = run.agents.assign(community=0)
    text = novelty_finding([run])
    assert text.startswith("Neologisms: ") and "communit" not in text
