"""Cleaning plain text and cutting it into texts: lines, sentences or paragraphs."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

UNITS = ("line", "sentence", "paragraph")
MAX_SENTENCE_WORDS = 60
MIN_SENTENCE_CHARS = 3

_GUTENBERG_START = re.compile(r"^\*\*\*\s*START OF.*$", re.IGNORECASE | re.MULTILINE)
_GUTENBERG_END = re.compile(r"^\*\*\*\s*END OF.*$", re.IGNORECASE | re.MULTILINE)
# End punctuation, optional closing quotes or brackets, then whitespace.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+")
_OPENERS = "\"'“‘([¿¡"
# Words whose trailing period rarely ends a sentence ("Mr. Smith"); single initials too.
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "prof",
        "sr",
        "jr",
        "mt",
        "capt",
        "col",
        "gen",
        "lt",
        "rev",
        "hon",
    ]
)


def clean(text: str) -> str:
    """Strip ``text`` and collapse every run of whitespace to one space."""
    return " ".join(text.split())


def clean_all(texts: Iterable[str]) -> list[str]:
    """Clean every text and drop the ones left empty."""
    return [c for c in (clean(t) for t in texts) if c]


def strip_gutenberg(text: str) -> str:
    """Remove a Project Gutenberg header and footer when their ``***`` markers are present."""
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return text


def split_units(text: str, unit: str) -> list[str]:
    """Cut raw ``text`` into cleaned, non-empty texts.

    Args:
        text: the raw text (any newline convention).
        unit: ``"line"`` (each non-empty line), ``"paragraph"`` (blank-line separated
            blocks) or ``"sentence"`` (see :func:`split_sentences`).

    Returns:
        The texts in order.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if unit == "line":
        return clean_all(text.split("\n"))
    if unit == "paragraph":
        return clean_all(re.split(r"\n[ \t\f\v]*\n", text))
    if unit == "sentence":
        return split_sentences(text)
    raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(UNITS)}")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences at ``.``, ``!`` or ``?`` followed by space and a capital.

    The text is whitespace-normalised first. A break also needs the next word to start
    (after any opening quotes) with an uppercase letter or digit, so "e.g. the" stays
    whole, and the period must not end a common title ("Mr.", "Dr.") or an initial
    ("J."); other abbreviations before a capital are cut (a known limit). Fragments shorter than
    ``MIN_SENTENCE_CHARS`` characters are dropped; sentences longer than
    ``MAX_SENTENCE_WORDS`` words are cut into near-equal chunks no longer than that.
    """
    text = clean(text)
    pieces, begin = [], 0
    for match in _SENTENCE_END.finditer(text):
        following = text[match.end() : match.end() + 4].lstrip(_OPENERS)
        if _is_abbreviation(text[begin : match.end()]):
            continue
        if following[:1].isupper() or following[:1].isdigit():
            pieces.append(text[begin : match.end()])
            begin = match.end()
    pieces.append(text[begin:])
    out = []
    for piece in clean_all(pieces):
        if len(piece) >= MIN_SENTENCE_CHARS:
            out.extend(chunk_words(piece, MAX_SENTENCE_WORDS))
    return out


def _is_abbreviation(piece: str) -> bool:
    """Whether ``piece`` (text up to and including a sentence end) ends with "Mr." or "J."."""
    if not piece.rstrip().endswith("."):
        return False
    last = piece.split()[-1].rstrip(".").lstrip(_OPENERS)
    return last.lower() in _ABBREVIATIONS or (len(last) == 1 and last.isupper())


def chunk_words(text: str, max_words: int) -> list[str]:
    """Cut ``text`` into near-equal runs of at most ``max_words`` words."""
    words = text.split()
    if len(words) <= max_words:
        return [text]
    parts = math.ceil(len(words) / max_words)
    size, extra = divmod(len(words), parts)
    chunks, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        chunks.append(" ".join(words[start:end]))
        start = end
    return chunks
