"""Facts about the real corpus that measures compare agents against, computed once per run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from society.metrics.distribution import tail_words
from society.metrics.novelty import real_ngrams
from society.metrics.text import tokenize_all

if TYPE_CHECKING:
    from society.corpora import Corpus
    from society.corpora.grammar import Grammar

#: N-gram orders whose real-corpus sets are kept for the novelty measures.
NOVEL_ORDERS = (2, 3)


@dataclass(frozen=True)
class Reference:
    """The real corpus as the measures need it.

    Attributes:
        vocabulary: word types of the whole real corpus (training and held-out): a word
            outside it is a neologism.
        ngrams: per order in ``NOVEL_ORDERS``, the real corpus's n-grams.
        tail: the training split's rare words (see ``distribution.tail_words``).
        heldout_vocabulary: word types of the held-out split (the coverage yardstick).
        heldout: held-out texts (the classifier's and the embeddings' real side).
        grammar: the generating grammar when the source is synthetic, else ``None``.
    """

    vocabulary: frozenset[str]
    ngrams: dict[int, frozenset[tuple[str, ...]]]
    tail: frozenset[str]
    heldout_vocabulary: frozenset[str]
    heldout: list[str]
    grammar: Grammar | None = None

    @classmethod
    def from_corpus(cls, corpus: Corpus, tail_share: float = 0.1) -> Reference:
        """Tokenise the corpus once and derive every reference set.

        Args:
            corpus: the run's real data (training and held-out splits).
            tail_share: the most real token mass the rare tail may hold.

        Returns:
            The reference.
        """
        train, heldout = tokenize_all(corpus.train), tokenize_all(corpus.heldout)
        both = train + heldout
        train_counts = Counter(w for tokens in train for w in tokens)
        return cls(
            vocabulary=frozenset(w for tokens in both for w in tokens),
            ngrams={n: real_ngrams(both, n) for n in NOVEL_ORDERS},
            tail=tail_words(train_counts, tail_share) if train_counts else frozenset(),
            heldout_vocabulary=frozenset(w for tokens in heldout for w in tokens),
            heldout=list(corpus.heldout),
            grammar=corpus.grammar,
        )
