"""Per-community real data: each community may start from its own corpus and ancestor.

``[real_data.communities]`` maps a community label to a source (anything
:func:`society.corpora.load_corpus` reads); communities not listed use
``real_data.source``. Every distinct source is loaded once, with the same holdout,
split seed, cap, unit and text field, and gets one generation-0 ancestor, built by
:func:`society.lm.ancestor_cache.build_ancestor` (so neural ancestors stay cached).
The shared tokenizer is trained on the union of all training splits, so every agent can
read every dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from society.config import LanguageModelConfig, RealDataConfig
from society.config.language_model import table_for
from society.corpora import Corpus, CorpusError, load_corpus
from society.lm.ancestor_cache import build_ancestor
from society.lm.base import LanguageModel
from society.lm.tokenizer import SharedTokenizer


class CommunitySourceError(CorpusError):
    """A community's source cannot be loaded; ``field`` names the scenario key.

    Args:
        label: the community label.
        message: the loader's one-line message.
    """

    def __init__(self, label: int, message: str) -> None:
        super().__init__(message)
        self.field = f"real_data.communities.{label}"


def _load(real: RealDataConfig, source: str) -> Corpus:
    return load_corpus(
        source,
        holdout=real.holdout,
        split_seed=real.split_seed,
        max_texts=real.max_texts,
        unit=real.unit,
        text_field=real.text_field,
    )


def load_main(real: RealDataConfig) -> Corpus:
    """The corpus of ``real_data.source`` (loader errors pass through unchanged)."""
    return _load(real, real.source)


@dataclass
class CommunitySources:
    """The main corpus plus one corpus per listed community (shared when sources repeat).

    Attributes:
        main: the ``real_data.source`` corpus.
        by_community: community label -> corpus, for the communities whose source differs
            from the main one.
        sources: community label -> source string, for those same communities.
    """

    main: Corpus
    by_community: dict[int, Corpus] = field(default_factory=dict)
    sources: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, real: RealDataConfig, main: Corpus | None = None) -> CommunitySources:
        """Load every distinct source once.

        Args:
            real: the scenario's ``[real_data]`` table.
            main: the already loaded main corpus (else read from ``real.source``).

        Returns:
            The loaded sources.

        Raises:
            CorpusError: the main source does not load.
            CommunitySourceError: a community's source does not load.
        """
        main = main if main is not None else load_main(real)
        loaded: dict[str, Corpus] = {real.source: main}
        out = cls(main)
        for label, source in sorted(real.communities.items()):
            if source == real.source:
                continue
            if source not in loaded:
                try:
                    loaded[source] = _load(real, source)
                except CorpusError as error:
                    raise CommunitySourceError(label, str(error)) from None
            out.by_community[label] = loaded[source]
            out.sources[label] = source
        return out

    def distinct(self) -> list[Corpus]:
        """The main corpus, then every other distinct corpus in community-label order."""
        out = [self.main]
        for corpus in self.by_community.values():
            if all(corpus is not seen for seen in out):
                out.append(corpus)
        return out

    def tokenizer_texts(self) -> list[str]:
        """The union of the training splits (exactly ``main.train`` with no table)."""
        corpora = self.distinct()
        if len(corpora) == 1:
            return self.main.train
        return [text for corpus in corpora for text in corpus.train]

    def ancestors(
        self,
        config: LanguageModelConfig,
        tokenizer: SharedTokenizer,
        main_ancestor: LanguageModel,
        communities: Iterable[int],
        texts: Callable[[Corpus], list[str]] | None = None,
    ) -> dict[int, LanguageModel]:
        """One generation-0 model per distinct corpus and language-model table, by community.

        Args:
            config: the scenario's ``[language_model]`` table; a community listed in its
                ``communities`` gets an ancestor of its own table (a mixed population).
            tokenizer: the run's shared tokenizer.
            main_ancestor: the ancestor already trained on ``main.train``.
            communities: labels to key besides the listed ones (those of the graph).
            texts: what a corpus's ancestor learns from (default: its training split;
                the society passes its data budget, ``society.sim.data_budget``).

        Returns:
            Community label -> ancestor; unlisted communities map to ``main_ancestor``.
        """
        built: list[tuple[Corpus, Any, LanguageModel]] = [(self.main, config, main_ancestor)]
        out: dict[int, LanguageModel] = {}
        labels = set(communities) | set(self.by_community) | set(config.communities)
        for label in sorted(labels):
            corpus = self.by_community.get(label, self.main)
            table = table_for(config, label)
            model = next((lm for seen, cfg, lm in built if seen is corpus and cfg == table), None)
            if model is None:
                data = texts(corpus) if texts is not None else corpus.train
                model = build_ancestor(table, tokenizer, data)
                built.append((corpus, table, model))
            out[label] = model
        return out

    def manifest(self, real: RealDataConfig) -> dict[str, dict[str, object]]:
        """What each community started from, for the run's ``manifest.json``.

        Returns:
            ``{"default": {...}, "<label>": {...}}`` with source, corpus name and split sizes.
        """

        def describe(source: str, corpus: Corpus) -> dict[str, object]:
            return {
                "source": source,
                "corpus": corpus.name,
                "train": len(corpus.train),
                "heldout": len(corpus.heldout),
            }

        out = {"default": describe(real.source, self.main)}
        for label, corpus in self.by_community.items():
            out[str(label)] = describe(self.sources[label], corpus)
        return out
