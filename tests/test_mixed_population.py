"""Mixed populations: ``[language_model.communities.<label>]`` gives a community its own model."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from typer.testing import CliRunner

from society.app.cli import app
from society.config import ConfigError, Scenario
from society.config.language_model import NGramConfig, TransformerConfig, model_label, table_for
from society.run import layout

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

TINY_TRANSFORMER = """
[language_model.communities.1]
kind = "transformer"
layers = 1
width = 16
heads = 2
context = 16
batch_size = 4
epochs = 1
ancestor_epochs = 1
device = "cpu"
"""

MIXED = (
    """
name = "mixed"
rounds = 2
[network]
kind = "caveman"
communities = 2
size = 3
[real_data]
source = "grammar"
max_texts = 400
fraction = 0.2
[tokenizer]
vocab_size = 300
[speech]
utterances = 12
max_tokens = 10
[listening]
texts = 12
[metrics]
heldout_texts = 20
dialect_null = 20
mantel_permutations = 20
classifier_agents = 4
self_bleu_texts = 5
cross_texts = 4
cross_agents = 6
ancestor_texts = 5
[language_model]
kind = "ngram"
order = 2
"""
    + TINY_TRANSFORMER
)


def test_a_community_table_is_a_whole_table_of_its_own_kind():
    scenario = Scenario().with_overrides(
        {"language_model.communities": {"1": {"kind": "transformer", "layers": 1, "width": 16}}}
    )
    main = scenario.language_model
    assert isinstance(main, NGramConfig) and table_for(main, 0) is main
    own = table_for(main, 1)
    assert isinstance(own, TransformerConfig) and own.heads == 4  # a default, not inherited
    assert [model_label(main), model_label(own)] == ["ngram3", "gpt2-1x16"]
    # an override elsewhere keeps the community's kind
    assert table_for(scenario.with_overrides({"seed": 3}).language_model, 1).kind == "transformer"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"x": {"kind": "ngram"}}, "language_model.communities: community label 'x' is not"),
        ({"1": {"kind": "transformer", "order": 3}}, "language_model.communities.1.order"),
        ({"1": {"communities": {"2": {}}}}, "a community's table has no communities"),
    ],
)
def test_bad_community_tables_are_one_line_errors(table, expected):
    with pytest.raises(ConfigError) as error:
        Scenario().with_overrides({"language_model.communities": table})
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_a_table_for_a_community_the_graph_lacks_stops_the_run_before_anything(tmp_path):
    path = tmp_path / "mixed.toml"
    path.write_text(MIXED.replace("communities.1]", "communities.7]"))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: language_model.communities.7: no community 7 (the graph has 0, 1)"
    ]
    assert not out.exists()


def test_a_mixed_population_runs_end_to_end_with_its_report(tmp_path):
    from society.run.checkpoints import load_agent

    path = tmp_path / "mixed.toml"
    path.write_text(MIXED)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    agents = pd.read_parquet(layout.table(out, "agents"))
    models = agents.groupby("community")["model"].unique()
    assert list(models[0]) == ["ngram2"] and list(models[1]) == ["gpt2-1x16"]
    # every measure works for both kinds: a column measured for one is measured for the other
    for column in agents.columns:
        measured = agents.groupby("community")[column].apply(
            lambda v: v.map(lambda x: not (isinstance(x, float) and math.isnan(x))).any()
        )
        assert measured[0] == measured[1], column
    assert len(pd.read_parquet(layout.table(out, "pairs"))) > 0
    # each agent's checkpoint rebuilds its own kind of model
    last = int(agents["round"].max())
    ids = agents[agents["round"] == last].set_index("community")["agent"]
    assert type(load_agent(out, int(ids[0].iloc[0]))).__name__ == "NGramLM"
    assert type(load_agent(out, int(ids[1].iloc[0]))).__name__ == "TransformerLM"
    report = CliRunner().invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    assert (out / layout.REPORT).stat().st_size > 10_000
