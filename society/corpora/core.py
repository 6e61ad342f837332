"""The corpus record every real-data source produces, and the error every loader raises."""

from __future__ import annotations

from dataclasses import dataclass

from society.corpora.grammar import Grammar


class CorpusError(ValueError):
    """A corpus cannot be loaded; the one-line message names the file and the problem."""


@dataclass
class Corpus:
    """Texts from one source, split once into a training part and a held-out part.

    Attributes:
        name: short name of the source ("kjv", "grammar", or the file or folder name).
        train: texts the society learns from.
        heldout: texts kept aside for evaluation (disjoint from ``train`` by position;
            a text that occurs twice in the source may land in both).
        grammar: the generating grammar, set only for the synthetic "grammar" source.
    """

    name: str
    train: list[str]
    heldout: list[str]
    grammar: Grammar | None = None
