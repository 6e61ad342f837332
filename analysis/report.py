"""One self-contained HTML report of one or more runs (``society report``).

Everything is inline: figures are base64 PNG/GIF data URIs, the style sheet is in the
page, there are no scripts, fonts or links to fetch, so the file opens offline and can be
mailed around. Sections: the findings (sentences computed from the runs, answer first),
a narrow summary table, every figure with a caption that says how to read it, the
scenario, characteristic expressions, new words, and sample utterances per dialect at the
first, middle and last rounds.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis import plots
from analysis.findings import Finding, findings
from analysis.runs import Run, RunSet, leading_comment, load_runs
from analysis.spread import classify_innovations
from society.run import layout

#: Runs that get their own detailed section (dialect figures, samples); the rest are
#: summarised in the tables and curves.
DETAILED_RUNS = 4
SAMPLES_PER_DIALECT = 3

#: The narrow table shown first: the answer's measures.
HEADLINE = (
    ("perplexity", "held-out perplexity"),
    ("dialects", "dialects"),
    ("dialect_ari", "ARI"),
    ("jsd_unigram_index", "within/between"),
    ("mantel_r", "Mantel r"),
)

SUMMARY = (
    ("perplexity", "held-out perplexity"),
    ("distinct_2", "distinct-2"),
    ("entropy", "entropy"),
    ("self_bleu", "self-BLEU"),
    ("zipf", "Zipf s"),
    ("tail_mass_ratio", "tail mass ratio"),
    ("novel_2", "novel bigrams"),
    ("neologism_share", "neologisms"),
    ("grammatical", "grammatical"),
    ("real_vs_generated", "real-vs-gen acc."),
    ("jsd_unigram_index", "within/between"),
    ("dialects", "dialects"),
    ("dialect_ari", "ARI"),
    ("mantel_r", "Mantel r"),
)

CAPTIONS = {
    "diversity": (
        "Lexical diversity over rounds. Each panel is one measure of an agent's output in a "
        "round; the line is the mean over agents (or, for several runs, over runs of each "
        "condition) and the shaded band the spread across agents (mean ± SD) or, for several "
        "runs, a 95% bootstrap interval across runs. Falling distinct-2, "
        "entropy and unique words, or rising self-BLEU, mean the language is repeating "
        "itself: lost diversity, a signature of model collapse."
    ),
    "distribution": (
        "Shape of the word distribution. Held-out perplexity is how surprised each agent's "
        "model is by real text it never saw (up = forgetting real language). The Zipf "
        "exponent is the maximum-likelihood slope of rank-frequency; tail mass ratio is the "
        "share of tokens on words that were rare in the real corpus, relative to round 0 "
        "(below 1 = the rare tail is vanishing); coverage is the share of held-out real "
        "vocabulary an agent still uses."
    ),
    "novelty": (
        "Novelty, errors and drift. Novel n-gram share and neologism share count n-grams "
        "and words never seen in the real corpus (creative variation, or noise). The "
        "grammatical share (synthetic-grammar runs) is exact error amplification. Perplexity "
        "under the ancestor rises as output drifts from the generation-0 model. "
        "Real-vs-generated accuracy is a cross-validated classifier on a sample of agents: "
        "0.5 = indistinguishable from held-out real text, 1 = always told apart. Semantic "
        "drift/diversity appear when sentence embeddings were switched on."
    ),
    "dialects": (
        "Dialect divergence. Jensen-Shannon divergence of word distributions within and "
        "between network communities, and the index 1 - within/between (0 = communities "
        "no more alike inside than across; rising = communities drift apart). 'Dialects "
        "found' is the number of clusters in the agents' divergence matrix (a split is "
        "only accepted when its silhouette beats text-shuffled copies of the same round); "
        "ARI compares dialects with communities (1 = identical); Mantel r correlates "
        "linguistic distance with distance on the graph (> 0 = neighbours speak alike)."
    ),
    "heatmaps": (
        "Who speaks like whom. Each square is the divergence between two agents' word "
        "distributions at the first, middle and last measured rounds (light = alike). "
        "Agents are ordered by the dendrogram above them, so dialects appear as light "
        "blocks on the diagonal; the two strips colour each agent by its dialect and its "
        "network community: when they line up, dialects follow the network."
    ),
    "map": (
        "Dialect map. Classical multidimensional scaling places agents so that distances on "
        "the page approximate the divergence between their language; each round's map is "
        "rotated onto the next so paths show drift. Lines are each agent's path from round "
        "0 (small dot) to the last round (large disc, coloured by community, numbered by "
        "dialect). Clouds that separate are dialects forming."
    ),
    "gif": (
        "The dialect map animated, one frame per measured round: colour is the agent's "
        "dialect in that round, marker shape its community, axes fixed across frames."
    ),
    "network": (
        "The network at the end of the run (after any scheduled events), each node "
        "coloured by its dialect and shaped by its community. Dialects that cover "
        "whole communities mean language follows the graph."
    ),
    "neologisms": (
        "Spread of new words. Left: the most widely adopted neologisms (word types absent "
        "from the real corpus), how many agents use each per round; the legend says when "
        "and by whom each was first said. Right: how many neologisms are shared by at "
        "least two agents, and by at least two communities (innovations that crossed a "
        "community boundary)."
    ),
    "ancestor": (
        "Perplexity of individual utterances under the generation-0 (ancestor) model, one "
        "histogram per round (log10 scale; dark = early, yellow = late). As in Shumailov et "
        "al. (2024), collapse shows as mass piling up at low perplexity (the ancestor's "
        "favourite sequences) together with a growing tail of improbable output."
    ),
    "rank": (
        "Rank-frequency of all words said in a round (log-log; dark = early, yellow = "
        "late). A curve that ends sooner or drops faster has lost its rare words."
    ),
}

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif;
       max-width: 1180px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #1b6ca8; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .92em; color: #444; max-width: 70em; }
table { border-collapse: collapse; font-size: .86em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; vertical-align: top; }
th { background: #f0f4f8; }
td.text, th.text { text-align: left; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .82em; }
.note { color: #666; font-size: .9em; }
.wide { overflow-x: auto; }
.utterance { font-family: Georgia, serif; }
#findings ul { font-size: 1.05em; padding-left: 1.2em; }
#findings li { margin: .35em 0; }
"""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def figure_html(figure: Figure | bytes | None, caption: str, alt: str) -> str:
    """A ``<figure>`` with an embedded PNG (or GIF bytes) and its caption; '' for None.

    A figure carrying ``events`` (the metric curves) gets them as a ``data-events`` JSON
    attribute of its ``<img>`` and named in the alt text, so the markers can be checked.
    """
    if figure is None:
        return ""
    events = ""
    if isinstance(figure, bytes):
        uri = _data_uri(figure, "image/gif")
    else:
        uri = _data_uri(plots.png(figure), "image/png")
        marks = getattr(figure, "events", None)
        if marks:
            alt += "; events marked: " + ", ".join(
                f"{m['label']} (round {m['round']})" for m in marks
            )
            events = f' data-events="{html.escape(json.dumps(marks))}"'
    return (
        f'<figure><img src="{uri}" alt="{html.escape(alt)}"{events}>'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _number(value: object) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    if not np.isfinite(x):
        return "–"
    return f"{x:.4g}"


def table_html(frame: pd.DataFrame, text_columns: tuple[str, ...] = ()) -> str:
    """A plain HTML table (numbers to 4 significant digits, text left-aligned)."""
    head = "".join(
        f'<th class="{"text" if c in text_columns else ""}">{html.escape(str(c))}</th>'
        for c in frame.columns
    )
    rows = []
    for _, row in frame.iterrows():
        cells = "".join(
            f'<td class="text">{html.escape(str(row[c]))}</td>'
            if c in text_columns
            else f"<td>{_number(row[c])}</td>"
            for c in frame.columns
        )
        rows.append(f"<tr>{cells}</tr>")
    body = "".join(rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="wide">{table}</div>'


def short_names(runs: RunSet, label_of: pd.Series) -> dict[str, str]:
    """Run names for the narrow table, short enough to leave room for the measures.

    The last folder (``seed=5``) when it and the condition tell the runs apart, else the
    name without the folders every run shares.
    """
    names = [r.name for r in runs.runs]
    conditions = len(set(label_of)) > 1
    last = {n: Path(n).name for n in names}
    if conditions and len({(label_of.get(n, ""), last[n]) for n in names}) == len(names):
        return last
    parts = [Path(n).parts for n in names]
    common = len(os.path.commonprefix(parts)) if len(names) > 1 else 0
    common = min(common, min(len(p) for p in parts) - 1)
    return {n: str(Path(*p[common:])) for n, p in zip(names, parts, strict=True)}


def summary_table(
    runs: RunSet, measures: tuple[tuple[str, str], ...] = SUMMARY, narrow: bool = False
) -> pd.DataFrame:
    """One row per run: status, rounds, and each measure at first round -> last.

    Args:
        runs: the loaded runs.
        measures: (column, label) pairs to show.
        narrow: only run, condition, rounds and the measures (the table shown first).
    """
    label_of = plots.conditions(runs)
    shown = short_names(runs, label_of) if narrow else {r.name: r.name for r in runs.runs}
    rows = []
    for run in runs.runs:
        row: dict[str, object] = {"run": shown[run.name]}
        if narrow and len(set(label_of)) > 1:
            row["condition"] = label_of.get(run.name, "")
        if not narrow:
            row["status"] = run.manifest.get("status", "?")
            row["agents"] = int(run.rounds["agents"].iloc[-1]) if "agents" in run.rounds else "?"
        row["rounds"] = run.manifest.get("rounds_done", "?")
        table = run.rounds.sort_values("round") if not run.rounds.empty else run.rounds
        for column, label in measures:
            if column not in table or not np.isfinite(table[column].astype(float)).any():
                continue
            values = table[column].astype(float).dropna()
            row[label] = f"{_number(values.iloc[0])} → {_number(values.iloc[-1])}"
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def scenario_comment(run: Run) -> str:
    """The leading comment (question and expected result) of the scenario file, if found.

    The file is the ``.toml`` named in the manifest's command line, read only if it still
    exists; ``config.toml`` itself is re-serialised and has no comments.
    """
    command = str(run.manifest.get("command", ""))
    for token in command.split():
        path = Path(token)
        if path.suffix != ".toml" or not path.is_file():
            continue
        return leading_comment(path)
    return ""


def scenario_html(run: Run) -> str:
    """The scenario: name, description, events, and the full resolved ``config.toml``."""
    config = run.config
    text = (Path(run.path) / layout.CONFIG).read_text(encoding="utf-8")
    parts = [
        f"<p><b>{html.escape(str(config.get('name', run.name)))}</b> — seed "
        f"{html.escape(str(config.get('seed', '?')))}, {html.escape(str(config.get('rounds')))} "
        f"rounds, network <code>{html.escape(str(config.get('network', {}).get('kind')))}"
        "</code>, language model <code>"
        f"{html.escape(str(config.get('language_model', {}).get('kind')))}</code>, real data "
        f"<code>{html.escape(str(config.get('real_data', {}).get('source')))}</code> "
        f"(fraction {html.escape(str(config.get('real_data', {}).get('fraction')))}).</p>"
    ]
    if config.get("description"):
        parts.append(f"<p>{html.escape(str(config['description']))}</p>")
    question = scenario_comment(run)
    if question:
        parts.append(f"<blockquote><pre>{html.escape(question)}</pre></blockquote>")
    if run.events:
        items = "".join(f"<li>{html.escape(event_line(e))}</li>" for e in run.events)
        parts.append(f"<p>Events applied:</p><ul>{items}</ul>")
    parts.append(
        f"<details><summary>config.toml (fully resolved)</summary><pre>{html.escape(text)}"
        "</pre></details>"
    )
    return "".join(parts)


def event_line(event: object) -> str:
    """``Round 9: connect communities=[0, 1], bridges=6, weight=1.0: added 6 bridges ...``."""
    if not isinstance(event, dict):
        return str(event)
    params = event.get("event") if isinstance(event.get("event"), dict) else event
    keys = ", ".join(
        f"{k}={v}" for k, v in params.items() if k not in ("round", "action", "detail", "event")
    )
    text = f"Round {event.get('round', '?')}: {event.get('action', 'event')}"
    text += f" {keys}" if keys else ""
    detail = str(event.get("detail", "")).strip()
    return f"{text}: {detail}" if detail else text


def samples_html(run: Run, samples: pd.DataFrame, rounds: list[int], seed: int = 0) -> str:
    """A few utterances per dialect at each chosen round (seeded choice)."""
    if samples.empty or run.agents.empty or "dialect" not in run.agents:
        return '<p class="note">No samples (metrics.samples = false) or no dialects.</p>'
    dialects = run.agents[["round", "agent", "dialect", "community"]]
    joined = samples.merge(dialects, on=["round", "agent"], how="inner")
    joined = joined[joined["text"].astype(str).str.strip() != ""]
    rng = np.random.default_rng(seed)
    rows = []
    for round_ in rounds:
        here = joined[joined["round"] == round_]
        for dialect, part in here.groupby("dialect", sort=True):
            take = rng.choice(len(part), size=min(SAMPLES_PER_DIALECT, len(part)), replace=False)
            for i in sorted(take):
                row = part.iloc[int(i)]
                rows.append(
                    {
                        "round": round_,
                        "dialect": int(dialect),
                        "agent": int(row["agent"]),
                        "community": int(row["community"]),
                        "utterance": str(row["text"]),
                    }
                )
    if not rows:
        return '<p class="note">No utterances logged at these rounds.</p>'
    return table_html(pd.DataFrame(rows), text_columns=("utterance",)).replace(
        '<td class="text">', '<td class="text utterance">'
    )


def expressions_html(run: Run) -> str:
    """The characteristic expressions of each dialect at the last round that had several."""
    table = run.expressions
    if table.empty:
        return (
            '<p class="note">No characteristic expressions: the run never had more than one '
            "dialect (or metrics.expressions = 0).</p>"
        )
    last = table["round"].max()
    part = table[table["round"] == last]
    rows = []
    for dialect, group in part.groupby("dialect", sort=True):
        words = ", ".join(
            f"{e} ({z:.1f})" for e, z in zip(group["expression"], group["z"], strict=True)
        )
        rows.append(
            {
                "dialect": int(dialect),
                "agents": int(group["agents"].iloc[0]),
                "expressions (z)": words,
            }
        )
    return (
        f"<p>Round {last}. Words and bigrams most typical of each dialect against all others: "
        "log-odds ratio with an informative Dirichlet prior (Monroe et al. 2008), z-scored; "
        "only z &gt; 1.96 is listed.</p>"
        + table_html(pd.DataFrame(rows), text_columns=("expressions (z)",))
    )


def _communities_text(values: list[int]) -> str:
    return ", ".join(map(str, values)) or "–"


def innovations_html(run: Run, samples: pd.DataFrame | None = None, top: int = 12) -> str:
    """The most widely adopted neologisms: origin, where they spread, where re-invented."""
    table = classify_innovations(run, samples)
    if table.empty:
        return '<p class="note">No neologism was used by two agents in one round.</p>'
    born = table[table["first_round"] > run.innovations["round"].min()]
    peak = (born if not born.empty else table).head(top)
    frame = pd.DataFrame(
        {
            "word": peak["word"],
            "first round": peak["first_round"],
            "origin community": peak["origin_community"],
            "peak round": peak["peak_round"],
            "agents then": peak["agents"],
            "reached through the network": peak["reached"].map(_communities_text),
            "invented independently in": peak["independent"].map(_communities_text),
        }
    )
    return (
        "<p>Communities that used each word at its peak round: those a path connected to "
        "the word's first speaker when it was first said (it could have spread), and those "
        "with no such path (the same word invented independently).</p>"
        + table_html(
            frame,
            text_columns=("word", "reached through the network", "invented independently in"),
        )
    )


def run_section(run: Run) -> str:
    """Dialect figures, expressions, innovations and samples of one run."""
    first_mid_last = plots.chosen_rounds(run)
    samples = run.samples(plots.chosen_rounds(run, 6) + first_mid_last)
    parts = [f"<h2>Run {html.escape(run.name)}</h2>", scenario_html(run)]
    figures = [
        (plots.divergence_heatmaps(run), CAPTIONS["heatmaps"], "divergence heatmaps"),
        (plots.dialect_map(run), CAPTIONS["map"], "dialect map"),
        (plots.dialect_map_gif(run), CAPTIONS["gif"], "dialect map animation"),
        (plots.network_by_dialect(run), CAPTIONS["network"], "network coloured by dialect"),
        (plots.neologism_adoption(run), CAPTIONS["neologisms"], "neologism adoption"),
        (plots.ancestor_histograms(run, samples), CAPTIONS["ancestor"], "ancestor perplexity"),
        (
            plots.rank_frequency(samples[samples["round"].isin(first_mid_last)])
            if not samples.empty
            else None,
            CAPTIONS["rank"],
            "rank-frequency",
        ),
    ]
    parts.extend(figure_html(f, caption, alt) for f, caption, alt in figures)
    if run.pairs.empty:
        parts.append('<p class="note">No pair table: divergence figures are not drawn.</p>')
    parts.append("<h3>Characteristic expressions</h3>" + expressions_html(run))
    parts.append("<h3>New words</h3>" + innovations_html(run))
    parts.append(
        f"<h3>What the dialects said (rounds {', '.join(map(str, first_mid_last))})</h3>"
        + samples_html(run, samples, first_mid_last)
    )
    return "".join(parts)


def verdicts(runs: RunSet) -> list[Path]:
    """The ``verdict.md`` of every experiment the runs belong to (searched upwards)."""
    found: dict[Path, None] = {}
    for run in runs.runs:
        for parent in list(Path(run.path).resolve().parents)[:6]:
            if (parent / layout.VERDICT).is_file():
                found[parent / layout.VERDICT] = None
                break
    return list(found)


def findings_html(runs: RunSet, out: Path | None = None, items: list[Finding] | None = None) -> str:
    """The Findings section: sentences per condition, then links to experiment verdicts."""
    items = findings(runs) if items is None else items
    parts = ['<section id="findings"><h2>Findings</h2>']
    conditions = list(dict.fromkeys(f.condition for f in items))
    for condition in conditions:
        if len(conditions) > 1:
            parts.append(f"<h3>{html.escape(condition)}</h3>")
        lines = "".join(
            f'<li data-topic="{f.topic}"><b>{f.topic.capitalize()}.</b> {html.escape(f.text)}</li>'
            for f in items
            if f.condition == condition
        )
        parts.append(f"<ul class='findings'>{lines}</ul>")
    for verdict in verdicts(runs):
        href = verdict.as_uri()
        if out is not None:
            href = os.path.relpath(verdict, Path(out).resolve().parent)
        text = verdict.read_text(encoding="utf-8")
        parts.append(
            f'<p>Experiment verdict: <a class="verdict" href="{html.escape(href)}">'
            f"{html.escape(str(verdict))}</a></p><details><summary>verdict.md</summary>"
            f"<pre>{html.escape(text)}</pre></details>"
        )
    parts.append("</section>")
    return "".join(parts)


def build_report(
    runs: RunSet,
    title: str | None = None,
    out: Path | None = None,
    items: list[Finding] | None = None,
) -> str:
    """The report's HTML text (``out``: where it will be written, for relative links).

    ``items``: the findings when already computed (else computed here).
    """
    scenarios = dict.fromkeys(str(r.config.get("name", r.name)) for r in runs.runs)
    names = ", ".join(scenarios) + (f" ({len(runs.runs)} runs)" if len(runs.runs) > 1 else "")
    title = title or f"society report: {names}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>Generated {datetime.now(UTC).isoformat(timespec='seconds')} from "
        f"{len(runs.runs)} run(s). Every number is read from the run directories.</p>",
        findings_html(runs, out, items),
        "<h2>Summary</h2><p>Each cell: first measured round → last measured round.</p>",
        table_html(summary_table(runs, HEADLINE, narrow=True), text_columns=("run", "condition")),
        "<details><summary>Every measure</summary>",
        table_html(summary_table(runs), text_columns=("run", "status")),
        "</details>",
    ]
    if runs.varying:
        parts.append(
            "<p>Parameters that differ between runs: "
            + ", ".join(f"<code>{html.escape(v)}</code>" for v in runs.varying)
            + "</p>"
        )
    parts.append("<h2>Measures over rounds</h2>")
    for group in plots.METRIC_GROUPS:
        parts.append(
            figure_html(plots.metric_curves(runs, group), CAPTIONS[group], f"{group} curves")
        )
    detailed = runs.runs[:DETAILED_RUNS]
    if len(runs.runs) > DETAILED_RUNS:
        parts.append(
            f"<p class='note'>Detailed sections for the first {DETAILED_RUNS} of "
            f"{len(runs.runs)} runs.</p>"
        )
    parts.extend(run_section(run) for run in detailed)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    paths: str | Path | list[str | Path],
    out: str | Path | None = None,
    on_findings: Callable[[list[Finding]], None] | None = None,
) -> Path:
    """Load runs and write their report.

    Args:
        paths: run directories or glob patterns (see ``analysis.runs.load_runs``).
        out: the HTML file (default: ``report.html`` inside the run directory for one run,
            ``report.html`` in the current directory for several).
        on_findings: called with the report's findings (e.g. to print them).

    Returns:
        The path written.

    Raises:
        RunError: if a path is not a readable run directory.
    """
    runs = load_runs(paths)
    if out is None:
        out = runs.runs[0].path / layout.REPORT if len(runs.runs) == 1 else Path(layout.REPORT)
    out = Path(out)
    items = findings(runs)
    text = build_report(runs, out=out, items=items)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    if on_findings is not None:
        on_findings(items)
    return out
