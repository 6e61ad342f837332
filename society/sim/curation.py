"""What an agent keeps of what it heard: the remedies named by model-collapse research.

- mixing: a share of real text in every round's data, fixed or scheduled (:func:`real_fraction`);
- deduplication and length filters (:func:`curate`);
- a critic model (the ancestor, or an n-gram trained on real text only): keep texts under a
  perplexity threshold, or the best ``keep_best`` share;
- a simulated verifier that is right with probability ``verifier_accuracy``: exact against
  the synthetic grammar, on real corpora the critic's verdict (perplexity under a quantile
  of real held-out texts' perplexities) plus that noise;
- human labels read from a CSV or JSONL file (``society annotate`` writes one to fill in).

:class:`Curator` holds what the filters need for a whole society (:class:`Critics`, labels,
the grammar or held-out text, the generator) and applies them in that order: length, dedup,
labels, verifier, critic; the ``[curation]`` table comes with every call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from society.config import CurationConfig, RealDataConfig, schedule_value
from society.corpora.grammar import Grammar
from society.lm.base import LanguageModel
from society.lm.ngram import NGramLM
from society.lm.tokenizer import SharedTokenizer

YES = {"1", "true", "yes", "y", "keep", "good", "ok", "accept", "grammatical"}
NO = {"0", "false", "no", "n", "drop", "bad", "reject", "ungrammatical"}


class LabelsError(ValueError):
    """A labels file that cannot be used; the message names the file and the row."""


def real_fraction(config: RealDataConfig, round_: int) -> float:
    """The share of real text in round ``round_``'s data (``fraction`` or its schedule)."""
    return schedule_value(config.schedule, round_, config.fraction, config.interpolate)


def curate(texts: Sequence[str], config: CurationConfig) -> np.ndarray:
    """Length and deduplication filters: a boolean mask of the texts to keep.

    Args:
        texts: what the agent heard this round, in order.
        config: the scenario's ``[curation]`` table.

    Returns:
        ``keep[i]`` is True when ``texts[i]`` passes every filter.
    """
    lengths = np.array([len(t.split()) for t in texts], dtype=np.int64)
    keep = lengths >= config.min_words
    if config.max_words is not None:
        keep &= lengths <= config.max_words
    if config.dedup:
        seen: set[str] = set()
        for i, text in enumerate(texts):
            if text in seen:
                keep[i] = False
            seen.add(text)
    return keep


def parse_label(value: object) -> bool | None:
    """``True`` (keep), ``False`` (reject) or ``None`` (not labelled) from a label cell.

    Raises:
        ValueError: for a value that is neither a yes nor a no word.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    if text.endswith(".0"):
        text = text[:-2]
    if text in YES:
        return True
    if text in NO:
        return False
    raise ValueError(f"label {value!r} is not one of {sorted(YES)} or {sorted(NO)}")


def load_labels(path: str | Path) -> dict[str, bool]:
    """Read human verdicts from a CSV or JSONL file with ``text`` and ``label`` columns.

    Args:
        path: the file (``.jsonl`` is read as JSON Lines, anything else as CSV).

    Returns:
        ``{text: keep}`` for every labelled row (rows with an empty label are skipped; the
        last verdict on a text wins).

    Raises:
        LabelsError: unreadable file, missing columns, or a label that is not yes/no.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise LabelsError(f"{path}: cannot read labels: {str(error).splitlines()[0]}") from None
    missing = {"text", "label"} - set(frame.columns)
    if missing:
        raise LabelsError(f"{path}: labels need columns text and label (missing {sorted(missing)})")
    out: dict[str, bool] = {}
    for row, (text, label) in enumerate(zip(frame["text"], frame["label"], strict=True)):
        try:
            verdict = parse_label(label)
        except ValueError as error:
            raise LabelsError(f"{path}: row {row + 1}: {error}") from None
        if verdict is not None:
            out[str(text)] = verdict
    return out


def text_perplexities(lm: LanguageModel, texts: Sequence[str]) -> np.ndarray:
    """Per-text perplexity ``exp(-log p / tokens)`` under ``lm``."""
    if not len(texts):
        return np.zeros(0)
    loglik, tokens = lm.score(list(texts))
    return np.exp(-np.asarray(loglik, dtype=float) / np.maximum(np.asarray(tokens), 1))


class Critics:
    """The models a society judges texts with, each built on first use.

    ``"real"`` is an n-gram model of the real training text only (of the order asked for
    when it is first built); any other kind (``"ancestor"``, and ``"self"`` or ``"none"``
    where a critic is still needed) is generation 0.

    Args:
        ancestor: the society's generation-0 model.
        tokenizer: the shared tokenizer (the ``"real"`` critic's).
        real: the real training texts the ``"real"`` critic learns.
    """

    def __init__(
        self, ancestor: LanguageModel, tokenizer: SharedTokenizer, real: Sequence[str]
    ) -> None:
        self.ancestor = ancestor
        self.tokenizer = tokenizer
        self.real = real
        self._real: LanguageModel | None = None

    def get(self, kind: str, order: int) -> LanguageModel:
        """The critic ``kind`` (``curation.critic``); ``order`` builds the ``"real"`` one."""
        if kind != "real":
            return self.ancestor
        if self._real is None:
            self._real = NGramLM(self.tokenizer, order=order)
            self._real.fit(self.real)
        return self._real


class Curator:
    """What listeners keep: the filters of ``[curation]``, with the critics and labels they need.

    The configuration comes with every call (a ``set`` event may change it mid-run); what
    the curator keeps between calls are read labels files, verifier thresholds and critic
    perplexities (many listeners hear the same text).

    Args:
        critics: the society's critics.
        heldout: real held-out texts (on a real corpus the verifier's yardstick).
        grammar: the synthetic grammar when the texts come from one (exact verification).
        rng: the society's generator (the verifier's errors).
        labels: a labels file to read now, so that a bad file fails when the society is built.
    """

    def __init__(
        self,
        critics: Critics,
        heldout: Sequence[str],
        grammar: Grammar | None,
        rng: np.random.Generator,
        labels: str | None = None,
    ) -> None:
        self.critics = critics
        self.heldout = heldout
        self.grammar = grammar
        self.rng = rng
        self._thresholds: dict[str, float] = {}
        self._cache: dict[tuple[str, str], float] = {}
        self._labels: dict[str, dict[str, bool]] = {}
        if labels is not None:
            self.labels(labels)

    def labels(self, path: str) -> dict[str, bool]:
        """The verdicts in a labels file (read once per path; ``set`` may switch files)."""
        if path not in self._labels:
            self._labels[path] = load_labels(path)
        return self._labels[path]

    def perplexities(self, texts: Sequence[str], kind: str, order: int) -> np.ndarray:
        """Per-text perplexities under critic ``kind`` (memoised per kind and text)."""
        if len(self._cache) > 200_000:
            self._cache.clear()
        todo = list(dict.fromkeys(t for t in texts if (kind, t) not in self._cache))
        critic = self.critics.get(kind, order)
        for text, value in zip(todo, text_perplexities(critic, todo), strict=True):
            self._cache[(kind, text)] = float(value)
        return np.array([self._cache[(kind, t)] for t in texts], dtype=float)

    def acceptable(self, texts: Sequence[str], config: CurationConfig) -> np.ndarray:
        """The truth a verifier tries to report.

        On the synthetic grammar: exact grammaticality. On real corpora: the critic (the
        ancestor when ``critic`` is ``"self"`` or ``"none"``) finds the text no less likely
        than the ``verifier_quantile`` share of real held-out texts.
        """
        if self.grammar is not None:
            return np.array([self.grammar.is_grammatical(t) for t in texts], dtype=bool)
        kind = config.critic if config.critic in ("ancestor", "real") else "ancestor"
        key = f"{kind}:{config.verifier_quantile}"
        if key not in self._thresholds:
            critic = self.critics.get(kind, config.critic_order)
            real = text_perplexities(critic, self.heldout)
            self._thresholds[key] = float(np.quantile(real, config.verifier_quantile))
        return self.perplexities(texts, kind, config.critic_order) <= self._thresholds[key]

    def mask(
        self,
        texts: Sequence[str],
        config: CurationConfig,
        listener: LanguageModel | None = None,
    ) -> np.ndarray:
        """Which of ``texts`` a listener keeps under ``config`` (the ``[curation]`` table).

        Args:
            texts: what the listener heard.
            config: the scenario's ``[curation]`` table as it is this round.
            listener: the listener's own model (the critic when ``critic = "self"``).

        Returns:
            ``keep[i]`` is True when ``texts[i]`` passes length, dedup, labels, verifier and
            critic, in that order (the verifier draws one uniform per text).
        """
        keep = curate(texts, config)
        if config.labels is not None:
            labels = self.labels(config.labels)
            known = np.array([t in labels for t in texts], dtype=bool)
            good = np.array([labels.get(t, False) for t in texts], dtype=bool)
            keep &= good | (~known & (config.unlabelled == "keep"))
        if config.verifier_accuracy is not None and keep.any():
            truth = self.acceptable(texts, config)
            right = self.rng.random(len(texts)) < config.verifier_accuracy
            keep &= np.where(right, truth, ~truth)
        if config.critic != "none" and keep.any():
            if config.critic == "self" and listener is not None:
                perplexity = text_perplexities(listener, texts)
            else:
                perplexity = self.perplexities(texts, config.critic, config.critic_order)
            if config.max_perplexity is not None:
                keep &= perplexity <= config.max_perplexity
            if config.keep_best is not None and keep.any():
                candidates = np.flatnonzero(keep)
                count = math.ceil(config.keep_best * len(candidates))
                best = candidates[np.argsort(perplexity[candidates], kind="stable")[:count]]
                keep[:] = False
                keep[best] = True
        return keep
