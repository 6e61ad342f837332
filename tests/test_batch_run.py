import mesa
import pandas as pd
import pytest

from society.sim.model import Society

TINY = {
    "rounds": 2,
    "network_kind": "complete",
    "network_agents": 3,
    "speech_utterances": 15,
    "speech_max_tokens": 20,
    "real_data_max_texts": 600,
    "tokenizer_vocab_size": 400,
    "metrics_heldout_texts": 30,
    "metrics_classifier_agents": 0,
    "metrics_self_bleu_texts": 0,
    "metrics_dialect_null": 0,
    "metrics_mantel_permutations": 0,
}


def test_mesa_batch_run_drives_society_with_flat_keywords():
    rows = mesa.batch_run(
        Society,
        parameters={**TINY, "real_data_fraction": [0.0, 0.5], "seed": [3, 4]},
        number_processes=1,
        data_collection_period=1,
        display_progress=False,
    )
    table = pd.DataFrame(rows)
    assert len(table) == 4 * TINY["rounds"] * 3  # runs x steps x agents
    model = table.drop_duplicates(["RunId", "Step"])
    # Mesa reports steps 0 .. model.steps - 1; Society's Step s is its round s.
    assert sorted(model["Step"].unique()) == list(range(TINY["rounds"]))
    assert (model["Step"] == model["round"]).all()
    assert {"perplexity", "distinct_2", "AgentID", "community"} <= set(table.columns)

    # Rows are per agent; where model and agent reporters share a name (perplexity, ...)
    # Mesa keeps the agent's value, and the population value is the mean over agents.
    direct = Society(**{**TINY, "real_data_fraction": 0.5}, seed=4)
    for _ in range(direct.rounds):
        direct.step()
    agents = direct.agent_table().set_index(["round", "agent"])["perplexity"]
    chosen = table[(table["real_data_fraction"] == 0.5) & (table["seed"] == 4)]
    for row in chosen.itertuples():
        assert row.perplexity == pytest.approx(agents[(row.Step, row.AgentID)])
    population = chosen.groupby("Step")["perplexity"].mean()
    rounds = direct.round_table().set_index("round")["perplexity"]
    assert population.to_numpy() == pytest.approx(rounds.loc[population.index].to_numpy())

    last = table[table["Step"] == TINY["rounds"] - 1].groupby(["real_data_fraction", "seed"])
    means = last["perplexity"].mean()
    assert means[(0.0, 3)] != means[(0.5, 3)]  # the parameter and the seed reach the model
    assert means[(0.0, 3)] != means[(0.0, 4)]
