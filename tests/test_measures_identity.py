from society.metrics.measures.identity import Identity, Kept
from tests.records import agent, measure, record, setup


def test_identity_reports_nodes_communities_models_round_and_size():
    rec = record(
        [
            agent(4, ["a"], community=1, node=40, model_label="gpt2-1x32"),
            agent(5, ["b"], node=50, model_label="ngram3"),
        ],
        round_=3,
    )
    rows = measure(Identity, rec, setup())
    assert list(rows.agent) == [
        {"node": 40, "community": 1, "model": "gpt2-1x32"},
        {"node": 50, "community": 0, "model": "ngram3"},
    ]
    assert rows.round == {"round": 3, "agents": 2}


def test_kept_is_the_records_count():
    rec = record([agent(1, ["a"], heard=9, kept=7), agent(2, ["b"], heard=3, kept=0)])
    assert [row["kept"] for row in measure(Kept, rec, setup()).agent] == [7, 0]
