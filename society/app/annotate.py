"""Export a round's utterances for human labelling (``society annotate``).

The file has columns ``round, agent, text, label``; annotators fill ``label`` (yes/no,
1/0, keep/drop, good/bad) and a scenario points ``curation.labels`` at it, so listeners
keep only texts labelled good (``curation.unlabelled`` decides the rest).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from society.run import layout

COLUMNS = ["round", "agent", "text", "label"]


class AnnotateError(ValueError):
    """The run directory or the request cannot give samples (one line)."""


def read_samples(run: Path) -> pd.DataFrame:
    """Read ``RUN/samples.jsonl`` (or ``samples.jsonl.gz``) into a DataFrame.

    Raises:
        AnnotateError: no run directory, no samples file, or a malformed line.
    """
    path = layout.samples(run)
    if not Path(run).is_dir():
        raise AnnotateError(f"{run}: no such run directory")
    if not path.is_file():
        raise AnnotateError(f"{path}: no samples (was metrics.samples = false?)")
    rows = []
    opener = gzip.open if path.name.endswith(layout.GZIP) else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise AnnotateError(f"{path}: line {number}: not JSON") from None
    return pd.DataFrame(rows, columns=["round", "agent", "text", "heard", "kept"])


def export_for_labelling(
    run: Path, round_: int, out: Path, count: int | None = None, seed: int = 0
) -> int:
    """Write one round's utterances (distinct texts, optionally a seeded sample) to label.

    Args:
        run: the run directory.
        round_: the round whose utterances to export.
        out: the file to write: ``.jsonl`` gives JSON Lines, anything else CSV.
        count: export at most this many texts (a seeded random sample).
        seed: seed of that sample.

    Returns:
        The number of texts written.

    Raises:
        AnnotateError: bad run directory, or the round has no samples.
    """
    samples = read_samples(run)
    chosen = samples[samples["round"] == round_].drop_duplicates("text")
    if chosen.empty:
        rounds = sorted(samples["round"].unique().tolist())
        raise AnnotateError(f"{run}: no samples for round {round_} (rounds: {rounds})")
    if count is not None and count < len(chosen):
        chosen = chosen.sample(n=count, random_state=seed).sort_index()
    table = chosen.assign(label="")[COLUMNS]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".jsonl":
        table.to_json(out, orient="records", lines=True, force_ascii=False)
    else:
        table.to_csv(out, index=False)
    return len(table)
