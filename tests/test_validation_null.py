"""Null-corrected divergences and calibrated dialects (scientific claims, stated thresholds).

Identical agents: a complete graph of 8 agents, no events, every agent a clone of one
ancestor, so at round 0 all speak from the same model and no dialect exists.

- Round 0, every one of 10 seeds: the raw bigram JSD between agents sits far above 0
  (> 0.3; about 0.8 on KJV at these sizes), while the mean ``_excess`` of both JSD
  columns is within +-0.02 of 0, and at least 90% of all pairs' excess values are too.
- Rounds 0-3 of the same 10 seeds (40 measured rounds): more than one dialect in at
  most 10% of them (4 rounds).
- False positives: 200 replicate societies that speak one language (8 agents x 60
  texts dealt from the ancestor's speech) tested at alpha = 0.05: the number of splits
  lies in the two-sided 99% binomial band of the test's exact level (p < 0.05 needs no
  more than 3 of 99 deals to reach the observed silhouette: level 4/100).

That two communities cut apart still become two dialects (ARI >= 0.8 by round 6) is
``tests/test_validation_dialects.py``, which now clusters on the excess by default.
The corpus is ``SOCIETY_VALIDATION_SOURCE`` when set (any ``real_data.source``), else KJV.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy.stats import binom

from society.metrics.measures.dialect import Dialects
from society.sim.model import Society
from tests.records import agent, measure, record, setup

pytestmark = pytest.mark.validation

SOURCE = os.environ.get("SOCIETY_VALIDATION_SOURCE", "kjv")
SEEDS = tuple(range(10))
IDENTICAL = {
    "rounds": 3,
    "network_kind": "complete",
    "network_agents": 8,
    "speech_utterances": 100,
    "speech_max_tokens": 25,
    "real_data_source": SOURCE,
    "real_data_max_texts": 1500,
    "tokenizer_vocab_size": 800,
    "metrics_heldout_texts": 30,
    "metrics_classifier_agents": 0,
    "metrics_self_bleu_texts": 0,
    "metrics_ancestor_texts": 0,
    "metrics_expressions": 0,
}


@pytest.fixture(scope="module")
def identical():
    """Round and pair tables of the identical-agents society, per seed."""
    out = {}
    for seed in SEEDS:
        society = Society(seed=seed, **IDENTICAL)
        for _ in range(society.rounds):
            society.step()
        out[seed] = (society.round_table().set_index("round"), society.pair_table())
    return out


def test_round_zero_excess_is_about_zero_while_raw_jsd_is_not(identical):
    excess = []
    for rounds, pairs in identical.values():
        first = pairs[pairs["round"] == 0]
        assert first["jsd_bigram"].mean() > 0.3
        for column in ("jsd_unigram_excess", "jsd_bigram_excess"):
            assert abs(first[column].mean()) <= 0.02
            excess.extend(first[column].tolist())
        assert abs(rounds.loc[0, "jsd_bigram_excess_within"]) <= 0.02
    assert np.mean(np.abs(excess) <= 0.02) >= 0.9


def test_identical_agents_rarely_split_into_dialects(identical):
    counts = np.concatenate(
        [rounds.loc[0:3, "dialects"].to_numpy() for rounds, _ in identical.values()]
    )
    assert len(counts) == 40
    assert np.sum(counts > 1) <= 4


def test_dialect_test_false_positive_rate_is_within_the_binomial_band():
    society = Society(seed=0, **{**IDENTICAL, "network_agents": 16, "rounds": 0})
    pool = [text for agent in society.agents for text in agent.utterances]
    replicates, agents, texts = 200, 8, 60
    splits = 0
    for r in range(replicates):
        rng = np.random.default_rng([r, 17])
        picks = rng.choice(len(pool), agents * texts, replace=False).reshape(agents, texts)
        speakers = [agent(a, [pool[p] for p in picks[a]]) for a in range(agents)]
        rec = record(speakers, round_=r, pairs="none")
        rows = measure(Dialects, rec, setup(seed=r, mantel_permutations=0, expressions=0))
        splits += rows.round["dialects"] > 1
    low, high = binom.interval(0.99, replicates, 4 / 100)
    assert low <= splits <= high
