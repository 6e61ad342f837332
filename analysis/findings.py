"""The answer first: sentences computed from one run or many, each with its uncertainty.

``findings(runs)`` reads the loaded runs and returns, per condition (runs that differ only
in seed), what the report puts at its top: dialects (how many, from which round, how well
they match the network communities), collapse (held-out perplexity from the first to the
last measured round, and against a real-data control run when one is loaded: a run with
``real_data.fraction = 1``), contact (each event and what changed after it) and novelty
(neologisms coined, alive, shared; spread versus independent invention). Several runs of
one condition give a mean with its 95% t-interval across seeds; a single run says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.curves import conditions
from analysis.runs import Run, RunSet
from analysis.spread import classify_innovations

#: ARI at or above this: "matching the communities"; above PARTLY: "partly matching".
MATCH, PARTLY = 0.9, 0.3


@dataclass(frozen=True)
class Finding:
    """One sentence of the findings.

    Attributes:
        condition: the condition it describes (``all runs`` when there is one).
        topic: dialects, collapse, contact or novelty.
        text: the sentence (plain text, numbers included).
    """

    condition: str
    topic: str
    text: str


def fmt(x: float) -> str:
    """A number to three significant digits (``–`` when missing)."""
    if not np.isfinite(x):
        return "–"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def spread(values: list[float], low: float = -np.inf, high: float = np.inf) -> str:
    """``mean (95% CI lo–hi, n runs)``, or the value of one run; the CI clipped to a range."""
    clean = np.array([v for v in values if np.isfinite(v)], dtype=float)
    if clean.size == 0:
        return "–"
    if clean.size == 1:
        return fmt(clean[0])
    if np.ptp(clean) == 0:
        return f"{fmt(clean[0])} (every one of {clean.size} runs)"
    mean = clean.mean()
    half = stats.t.ppf(0.975, clean.size - 1) * clean.std(ddof=1) / np.sqrt(clean.size)
    lo, hi = max(mean - half, low), min(mean + half, high)
    return f"{fmt(mean)} (95% CI {fmt(lo)}–{fmt(hi)}, {clean.size} runs)"


def value_range(values: list[float]) -> str:
    """``mean (range lo–hi, n runs)`` for counts; the value of one run."""
    clean = np.array([v for v in values if np.isfinite(v)], dtype=float)
    if clean.size == 0:
        return "–"
    if clean.size == 1 or np.ptp(clean) == 0:
        return spread(list(clean))
    return f"{fmt(clean.mean())} (range {fmt(clean.min())}–{fmt(clean.max())}, {clean.size} runs)"


def _series(run: Run, column: str) -> pd.Series:
    """``column`` of the rounds table indexed by round, missing values dropped."""
    if run.rounds.empty or column not in run.rounds:
        return pd.Series(dtype=float)
    table = run.rounds.set_index("round")[column]
    return pd.to_numeric(table, errors="coerce").dropna().sort_index()


def index_column(run: Run) -> str:
    """The dialect divergence index: a chance-corrected ``*_excess`` column when present."""
    for column in run.rounds.columns:
        if column.startswith("jsd_unigram") and column.endswith("_excess"):
            return column
    return "jsd_unigram_index"


def _onset(dialects: pd.Series) -> float:
    """First round from which every measured round has two or more dialects (NaN if none)."""
    if dialects.empty or dialects.iloc[-1] < 2:
        return float("nan")
    below = dialects[dialects < 2]
    after = (
        dialects.index[dialects.index > below.index.max()] if not below.empty else dialects.index
    )
    return float(after.min())


def _communities(run: Run) -> int:
    if run.agents.empty or "community" not in run.agents:
        return 0
    last = run.agents[run.agents["round"] == run.agents["round"].max()]
    return int(last["community"].nunique())


def _span(rounds: pd.Index) -> str:
    return f"round {rounds.min()}" if len(rounds) == 1 else f"rounds {rounds.min()}–{rounds.max()}"


def _merged(run: Run, dialects: pd.Series, last: int, communities: int) -> str:
    """One run that split into dialects and ended with one: when, and the best match."""
    split = dialects[dialects >= 2]
    ari = _series(run, "dialect_ari").reindex(split.index)
    text = (
        f"One dialect at round {last}; earlier the agents had split (two or more dialects "
        f"in {_span(split.index)}"
    )
    if ari.notna().any():
        best = ari[ari == ari.max()].index
        counts = split[best]
        n = f"{int(counts.iloc[0])}" if counts.nunique() == 1 else "2 or more"
        text += (
            f"; at best {n} dialects, ARI with the {communities} communities "
            f"{fmt(float(ari.max()))} in {_span(best)}"
        )
    return text + ") and merged again; one run."


def dialect_finding(group: list[Run]) -> str:
    """How many dialects, from when, and their match to the communities."""
    counts, onsets, aris, ps = [], [], [], []
    for run in group:
        d = _series(run, "dialects")
        counts.append(float(d.iloc[-1]) if not d.empty else np.nan)
        onsets.append(_onset(d))
        ari = _series(run, "dialect_ari")
        aris.append(float(ari.iloc[-1]) if not ari.empty else np.nan)
        p = _series(run, "dialect_p")
        ps.append(float(p.iloc[-1]) if not p.empty else np.nan)
    if not np.isfinite(counts).any():
        return "Dialects were not measured."
    last = max(int(r.rounds["round"].max()) for r in group)
    communities = _communities(group[0])
    ari = float(np.nanmean(aris)) if np.isfinite(aris).any() else np.nan
    match = "matching" if ari >= MATCH else "partly matching" if ari >= PARTLY else "not matching"
    p_text = ""
    if np.isfinite(ps).any():
        p_text = f"; split against text-shuffled copies p = {spread(ps, 0, 1)}"
    if len(group) == 1:
        n = int(counts[0])
        if n < 2:
            d = _series(group[0], "dialects")
            if not d.empty and d.max() >= 2:
                return _merged(group[0], d, last, communities)
            against = (
                f"ARI with the {communities} communities {fmt(aris[0])}"
                if communities > 1
                else "the network has one community"
            )
            return (
                f"One dialect at round {last}: the agents did not split ({against}{p_text}); "
                "one run."
            )
        return (
            f"{n} dialects from round {int(onsets[0])}, {match} the {communities} "
            f"communities (ARI {fmt(aris[0])} at round {last}{p_text}); one run, no "
            "uncertainty across seeds."
        )
    split = sum(c >= 2 for c in counts if np.isfinite(c))
    finite = [c for c in counts if np.isfinite(c)]
    started = [o for o in onsets if np.isfinite(o)]
    onset = (
        f", from round {int(np.median(started))} (median; range {int(min(started))}–"
        f"{int(max(started))})"
        if started
        else ""
    )
    earlier = sum(
        c < 2 and _series(run, "dialects").max() >= 2
        for c, run in zip(counts, group, strict=True)
        if np.isfinite(c)
    )
    merged = f"; {earlier} other run(s) had split earlier and merged again" if earlier else ""
    count = (
        f"{int(finite[0])} (every one of {len(finite)} runs)"
        if min(finite) == max(finite)
        else f"{fmt(float(np.median(finite)))} (median; range {int(min(finite))}–"
        f"{int(max(finite))})"
    )
    return (
        f"Dialects at round {last}: {count}; {split} of {len(group)} runs end with "
        f"two or more{onset}{merged}; {match} the {communities} communities (ARI "
        f"{spread(aris, -0.5, 1)}){p_text}."
    )


def collapse_finding(group: list[Run], control: list[Run]) -> str:
    """Held-out perplexity from the first to the last round, and against a control."""
    firsts, lasts, ratios = [], [], []
    for run in group:
        ppl = _series(run, "perplexity")
        if ppl.empty:
            continue
        firsts.append(float(ppl.iloc[0]))
        lasts.append(float(ppl.iloc[-1]))
        ratios.append(float(ppl.iloc[-1] / ppl.iloc[0]))
    if not lasts:
        return "Held-out perplexity was not measured."
    first_round = min(int(r.rounds["round"].min()) for r in group)
    last_round = max(int(r.rounds["round"].max()) for r in group)
    text = (
        f"Held-out perplexity {spread(firsts, 0)} at round {first_round} → {spread(lasts, 0)} "
        f"at round {last_round}: ×{spread(ratios, 0)}"
    )
    mine = {id(r) for r in group}
    if all(is_control(r) for r in group):
        return text + "; this is the real-data control (real_data.fraction = 1)."
    others = [r for r in control if id(r) not in mine]
    control_last = [float(_series(r, "perplexity").iloc[-1]) for r in others]
    control_last = [c for c in control_last if np.isfinite(c)]
    if control_last:
        base = float(np.mean(control_last))
        text += (
            f"; ×{spread([x / base for x in lasts], 0)} the real-data control "
            f"(real_data.fraction = 1, {fmt(base)} at its last round, {len(control_last)} "
            "run(s))"
        )
    else:
        text += "; no real-data control run (real_data.fraction = 1) among the runs"
    return text + "."


def _before(series: pd.Series, round_: int) -> float:
    earlier = series[series.index < round_]
    return float(earlier.iloc[-1]) if not earlier.empty else np.nan


def _at_or_before(series: pd.Series, round_: int) -> float:
    earlier = series[series.index <= round_]
    return float(earlier.iloc[-1]) if not earlier.empty else np.nan


def contact_finding(group: list[Run]) -> str:
    """Each round's events and how the dialect measures changed until the next events.

    Events of one round are told together; "after" is the last measured round before the
    next round with events (or the last round), so each change is credited to its events.
    """
    events = [e for e in group[0].events if isinstance(e, dict)]
    if not events:
        return "No events: the network did not change during the run."
    column = index_column(group[0])
    by_round: dict[int, list[dict]] = {}
    for event in events:
        by_round.setdefault(int(event.get("round", 0)), []).append(event)
    starts = sorted(by_round)
    last = max(int(r.rounds["round"].max()) for r in group)
    sentences = []
    for i, round_ in enumerate(starts):
        end = starts[i + 1] - 1 if i + 1 < len(starts) else last
        parts = []
        for action in dict.fromkeys(str(e.get("action", "event")) for e in by_round[round_]):
            details = [
                str(e.get("detail", "")).strip()
                for e in by_round[round_]
                if str(e.get("action", "event")) == action and str(e.get("detail", "")).strip()
            ]
            joined = "; ".join(details)
            parts.append(f"{action} ({joined})" if details else action)
        before_i, after_i, before_d, after_d = [], [], [], []
        for run in group:
            index, dialects = _series(run, column), _series(run, "dialects")
            before_i.append(_before(index, round_))
            after_i.append(_at_or_before(index, end))
            before_d.append(_before(dialects, round_))
            after_d.append(_at_or_before(dialects, end))
        sentences.append(
            f"Round {round_}: {', '.join(parts)}. Dialect index ({column}) "
            f"{spread(before_i)} before it → {spread(after_i)} at round {end}; dialects "
            f"{value_range(before_d)} → {value_range(after_d)}."
        )
    return " ".join(sentences)


def novelty_finding(group: list[Run]) -> str:
    """Neologisms coined, alive and shared; how many spread and how many were re-invented."""
    new, alive, shared, spread_words, independent = [], [], [], [], []
    logged = False
    for run in group:
        coined = _series(run, "neologisms_new")
        if coined.empty:
            continue
        new.append(float(coined[coined.index > coined.index.min()].sum()))
        alive.append(float(_series(run, "neologisms_alive").iloc[-1]))
        shared.append(float(_series(run, "neologisms_shared").iloc[-1]))
        table = classify_innovations(run)
        logged = logged or bool(
            table["reached"].map(len).sum() + table["independent"].map(len).sum()
        )
        several = table[(table["reached"].map(len) + table["independent"].map(len)) >= 2]
        independent.append(float((several["independent"].map(len) > 0).sum()))
        spread_words.append(float((several["reached"].map(len) >= 2).sum()))
    if not new:
        return "Neologisms were not tracked."
    last = max(int(r.rounds["round"].max()) for r in group)
    text = (
        f"Neologisms: {spread(new, 0)} new word types coined after round 0; at round {last} "
        f"{spread(alive, 0)} in use, {spread(shared, 0)} shared by two or more agents."
    )
    if all(_communities(run) < 2 for run in group):
        return text
    if not logged:
        return text + " Spread is not classified: no utterances were logged (metrics.samples)."
    return text + (
        f" Of the tracked words used in several communities, {spread(spread_words, 0)} spread "
        f"along the network from their origin and {spread(independent, 0)} were also invented "
        "independently in a community with no path to their origin."
    )


def is_control(run: Run) -> bool:
    """A real-data control: every text heard is real (``real_data.fraction = 1``)."""
    try:
        return float(run.params.get("real_data.fraction", np.nan)) == 1.0
    except (TypeError, ValueError):
        return False


def _one_run(text: str, group: list[Run]) -> str:
    if len(group) > 1 or "one run" in text:
        return text
    return text.rstrip(".") + "; one run, no uncertainty across seeds."


def findings(runs: RunSet) -> list[Finding]:
    """Dialects, collapse, contact and novelty sentences per condition, answer first."""
    label_of = conditions(runs)
    groups: dict[str, list[Run]] = {}
    for run in runs.runs:
        groups.setdefault(str(label_of.get(run.name, "all runs")), []).append(run)
    control = [r for r in runs.runs if is_control(r)]
    out = []
    for condition, group in groups.items():
        texts = {
            "dialects": dialect_finding(group),
            "collapse": collapse_finding(group, control),
            "contact": contact_finding(group),
            "novelty": novelty_finding(group),
        }
        out.extend(Finding(condition, k, _one_run(v, group)) for k, v in texts.items())
    return out
