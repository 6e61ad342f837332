"""verdict.md: per-seed values, standard deviations, power, ratios to the control."""

import numpy as np
import pandas as pd

from analysis.verdict import write_verdict
from society.app.experiment import CONTROL, Experiment, control_ratios, evaluate_hypotheses


def rounds_table() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    rows = []
    for condition, level in (("closed", 300.0), ("open", 120.0), (CONTROL, 100.0)):
        for seed in range(10):
            for round_ in range(3):
                value = 100 + (level - 100) * round_ / 2 + rng.normal()
                rows.append(
                    {"condition": condition, "seed": seed, "round": round_, "perplexity": value}
                )
    return pd.DataFrame(rows)


def verdict() -> tuple[str, pd.DataFrame, pd.DataFrame]:
    experiment = Experiment.model_validate(
        {
            "scenario": "x.toml",
            "conditions": {"closed": {}, "open": {}},
            "hypotheses": [{"metric": "perplexity", "direction": "closed > open"}],
        }
    )
    rounds = rounds_table()
    results, values = evaluate_hypotheses(experiment, rounds)
    controls = control_ratios(rounds, experiment)
    index = pd.DataFrame(
        {"condition": ["closed", "open", CONTROL], "seed": [0, 0, 0], "status": ["done"] * 3}
    )
    text = write_verdict(
        title="t",
        question="",
        origin="x.toml",
        scenario="x.toml",
        index=index,
        results=results,
        values=values,
        controls=controls,
    )
    return text, values, controls


def test_verdict_lists_every_seed_with_mean_and_sd():
    text, values, _ = verdict()
    closed = values[values["condition"] == "closed"]["value"]
    line = next(line for line in text.splitlines() if line.startswith("- closed: mean"))
    assert f"sd {closed.std(ddof=1):.4g}" in line
    assert line.count(": ") == 1 + 10  # the condition, then one "seed: value" per seed


def test_verdict_says_what_the_test_can_detect():
    text, _, _ = verdict()
    assert "1/C(20,10) = 5.413e-06" in text  # 10 vs 10 runs, one-sided
    assert "can reach alpha" in text


def test_verdict_states_collapse_as_a_ratio_to_the_control():
    text, _, controls = verdict()
    assert "## Against the real-data control" in text
    closed = controls[controls["condition"] == "closed"]["ratio"]
    assert closed.mean() > 2.5  # 300 against 100 at the final round
    row = next(line for line in text.splitlines() if line.startswith("| perplexity | 2 | closed"))
    assert f"{closed.mean():.4g}" in row
    assert "A / control" in text
