"""Language figures of one run: new words spreading, ancestor perplexity, rank-frequency."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis.runs import Run
from analysis.style import WORD, colour, shade


def neologism_adoption(run: Run, top: int = 10) -> Figure | None:
    """How the most widely adopted new words spread: agents using each word per round.

    Left: the ``top`` neologisms (word types absent from the real corpus) by the most
    agents using them in any round, among those first said after the first measured round
    (the ancestor's own non-words are left out when there are any others). Right: per
    round, how many neologisms are in use by at least two agents, and how many of those
    crossed a community boundary.
    """
    table = run.innovations
    if table.empty:
        return None
    born = table[table["first_round"] > table["round"].min()]
    pool = born if not born.empty else table
    best = pool.groupby("word")["agents"].max().sort_values(ascending=False).head(top).index
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(1.6, 1))
    for i, word in enumerate(best):
        path = table[table["word"] == word].sort_values("round")
        first = path["first_round"].iloc[0]
        left.plot(
            path["round"],
            path["agents"],
            "-o",
            ms=3,
            color=colour(i),
            label=f"{word} (r{first}, agent {path['first_agent'].iloc[0]})",
        )
    left.set_xlabel("round")
    left.set_ylabel("agents using it")
    scope = "born in the society" if not born.empty else "all"
    left.set_title(f"top {len(best)} neologisms by adoption ({scope})", fontsize=10)
    left.legend(fontsize=7, ncol=2)
    left.grid(alpha=0.3)
    shared = table[table["agents"] >= 2].groupby("round")
    right.plot(shared.size().index, shared.size().to_numpy(), "-o", ms=3, label=">= 2 agents")
    crossed = table[table["communities"] >= 2].groupby("round").size()
    right.plot(crossed.index, crossed.to_numpy(), "-o", ms=3, label=">= 2 communities")
    right.set_xlabel("round")
    right.set_ylabel("neologisms")
    right.set_title("shared neologisms", fontsize=10)
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def ancestor_histograms(run: Run, samples: pd.DataFrame) -> Figure | None:
    """Histograms of each utterance's perplexity under the generation-0 model, per round.

    At most six rounds, evenly spread, are drawn. As in Shumailov et al. (2024, Fig. 1):
    later generations pile up at low perplexity
    (the ancestor's most likely sequences) while a tail of improbable output grows.
    """
    if samples.empty or "ancestor_ppl" not in samples:
        return None
    data = samples.dropna(subset=["ancestor_ppl"])
    data = data[data["ancestor_ppl"] > 0]
    if data.empty:
        return None
    rounds = sorted(data["round"].unique())
    if len(rounds) > 6:
        rounds = [rounds[i] for i in dict.fromkeys(np.linspace(0, len(rounds) - 1, 6).astype(int))]
        data = data[data["round"].isin(rounds)]
    logs = np.log10(data["ancestor_ppl"].to_numpy(dtype=float))
    bins = np.linspace(logs.min(), logs.max() + 1e-9, 40)
    figure = Figure(figsize=(7, 4), layout="constrained")
    ax = figure.subplots()
    for i, round_ in enumerate(rounds):
        values = logs[(data["round"] == round_).to_numpy()]
        ax.hist(
            values,
            bins=bins,
            density=True,
            histtype="step",
            lw=1.6,
            color=shade(i, len(rounds)),
            label=f"round {round_}",
        )
    ax.set_xlabel("log10 perplexity of an utterance under the ancestor")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure


def rank_frequency(samples: pd.DataFrame) -> Figure | None:
    """Rank-frequency curves (log-log) of all words said, per round.

    A steeper, shorter curve is a language losing its rare words (the Zipf tail).
    """
    if samples.empty:
        return None
    rounds = sorted(samples["round"].unique())
    figure = Figure(figsize=(7, 4), layout="constrained")
    ax = figure.subplots()
    for i, round_ in enumerate(rounds):
        texts = samples.loc[samples["round"] == round_, "text"]
        counts = Counter(w for t in texts for w in WORD.findall(str(t).lower()))
        if not counts:
            continue
        f = np.sort(np.asarray(list(counts.values()), dtype=float))[::-1]
        ax.loglog(
            np.arange(1, len(f) + 1),
            f / f.sum(),
            "-",
            lw=1.5,
            color=shade(i, len(rounds)),
            label=f"round {round_}",
        )
    ax.set_xlabel("rank")
    ax.set_ylabel("relative frequency")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return figure
