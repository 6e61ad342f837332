"""``load_corpus``: one entry point from a scenario's ``source`` string to a split corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from society.corpora.core import Corpus, CorpusError
from society.corpora.grammar import default_grammar
from society.corpora.kjv import load_kjv
from society.corpora.sources import (
    is_hf_dataset,
    load_hf_dataset,
    load_jsonl,
    load_text_file,
    load_text_folder,
)
from society.corpora.split import split_texts
from society.corpora.text import UNITS

KJV = "kjv"
GRAMMAR = "grammar"


def load_corpus(
    source: str,
    *,
    base_dir: Path | None = None,
    holdout: float = 0.1,
    split_seed: int = 0,
    max_texts: int | None = None,
    unit: str = "sentence",
    text_field: str = "text",
    grammar_texts: int = 5000,
) -> Corpus:
    """Load a corpus and split it once into training and held-out texts.

    Args:
        source: ``"kjv"`` (the King James Bible, one text per verse), ``"grammar"``
            (sentences from :func:`society.corpora.grammar.default_grammar`), or a path: a
            plain-text file, a folder of ``*.txt`` files (recursively, sorted), a ``.jsonl``
            file, or a Hugging Face dataset folder written by ``save_to_disk``. The two
            names win over files of the same name.
        base_dir: folder that relative paths are resolved against (the scenario file's
            folder); the working directory if None.
        holdout: held-out share in ``[0, 1)``; at least one text is held out and at least
            one kept for training.
        split_seed: seed of the split shuffle (and of the grammar's sampler).
        max_texts: keep a deterministic subset of this many texts before splitting.
        unit: how plain text is cut: ``"sentence"``, ``"line"`` or ``"paragraph"``.
            JSON Lines records, dataset rows and verses are one text each.
        text_field: the JSON Lines field or dataset column holding the text.
        grammar_texts: how many sentences the ``"grammar"`` source generates.

    Returns:
        The corpus; ``grammar`` is set only for the ``"grammar"`` source.

    Raises:
        CorpusError: if the source is missing, unreadable, malformed, empty after
            cleaning, or holds fewer than two texts, or an argument is out of range.
    """
    if unit not in UNITS:
        raise CorpusError(f"{source}: unknown unit {unit!r}; expected one of {', '.join(UNITS)}")
    grammar = None
    if source == KJV:
        name, where, texts = KJV, KJV, load_kjv()
    elif source == GRAMMAR:
        if grammar_texts < 2:
            raise CorpusError(f"grammar: grammar_texts must be at least 2, got {grammar_texts}")
        grammar = default_grammar()
        texts = grammar.generate(grammar_texts, np.random.default_rng(split_seed))
        name, where = GRAMMAR, GRAMMAR
    else:
        path = _resolve(source, base_dir)
        name, where, texts = path.stem or path.name, str(path), _read_path(path, unit, text_field)
    if not texts:
        raise CorpusError(f"empty corpus: {where} has no text")
    train, heldout = split_texts(
        texts, holdout=holdout, split_seed=split_seed, max_texts=max_texts, where=where
    )
    return Corpus(name=name, train=train, heldout=heldout, grammar=grammar)


def _resolve(source: str, base_dir: Path | None) -> Path:
    if not source.strip():
        raise CorpusError("corpus source is empty: give 'kjv', 'grammar' or a path")
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.exists():
        raise CorpusError(f"corpus file not found: {path}")
    return path


def _read_path(path: Path, unit: str, text_field: str) -> list[str]:
    if is_hf_dataset(path):
        return load_hf_dataset(path, text_field)
    if path.is_dir():
        return load_text_folder(path, unit)
    if path.suffix.lower() == ".jsonl":
        return load_jsonl(path, text_field)
    return load_text_file(path, unit)
