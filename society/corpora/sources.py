"""Readers for corpora on disk: text files, folders of text files, JSON Lines, HF datasets.

Every reader returns cleaned, non-empty texts and raises :class:`CorpusError` with a
one-line message that names the file and the problem.
"""

from __future__ import annotations

import json
from pathlib import Path

from society.corpora.core import CorpusError
from society.corpora.text import clean, split_units, strip_gutenberg

HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def is_hf_dataset(path: Path) -> bool:
    """Return whether ``path`` is a folder written by ``datasets``' ``save_to_disk``."""
    return path.is_dir() and any((path / m).is_file() for m in HF_MARKERS)


def read_text_file(path: Path) -> str:
    """Read ``path`` as UTF-8 (a byte-order mark is allowed).

    Raises:
        CorpusError: if the file cannot be read or is not valid UTF-8.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CorpusError(f"cannot read corpus file: {path} ({e.strerror or e})") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"{path} is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} ({e.reason})"
        ) from e


def load_text_file(path: Path, unit: str) -> list[str]:
    """Texts of one plain-text file cut by ``unit`` (Gutenberg header/footer removed)."""
    return split_units(strip_gutenberg(read_text_file(path)), unit)


def load_text_folder(path: Path, unit: str) -> list[str]:
    """Texts of every ``*.txt`` file under ``path`` (recursively, in sorted path order).

    Raises:
        CorpusError: if the folder holds no ``.txt`` file.
    """
    files = sorted(
        (p for p in path.rglob("*.txt") if p.is_file()),
        key=lambda p: p.relative_to(path).as_posix(),
    )
    if not files:
        raise CorpusError(f"no .txt files in corpus folder: {path}")
    texts: list[str] = []
    for file in files:
        texts.extend(load_text_file(file, unit))
    return texts


def load_jsonl(path: Path, text_field: str) -> list[str]:
    """Texts from the ``text_field`` of each JSON object in a JSON Lines file.

    Blank lines are skipped; a null field counts as an empty text.

    Raises:
        CorpusError: naming the line number if a line is not a JSON object, lacks the
            field, or holds a non-string value there.
    """
    texts = []
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError(f"{where}: not valid JSON ({e.msg})") from e
        if not isinstance(record, dict):
            raise CorpusError(f"{where}: expected a JSON object, got {type(record).__name__}")
        if text_field not in record:
            raise CorpusError(f'{where}: no "{text_field}" field')
        value = record[text_field]
        if value is None:
            continue
        if not isinstance(value, str):
            kind = type(value).__name__
            raise CorpusError(f'{where}: "{text_field}" is {kind}, not a string')
        texts.append(clean(value))
    return [t for t in texts if t]


def load_hf_dataset(path: Path, text_field: str) -> list[str]:
    """Texts from column ``text_field`` of a dataset saved with ``save_to_disk``.

    A ``DatasetDict`` contributes its ``train`` split (or its only split). Nothing is
    downloaded.

    Raises:
        CorpusError: if the folder cannot be loaded, has no usable split, or lacks the
            column, or the column is not text.
    """
    import datasets  # slow to import; only needed here

    try:
        data = datasets.load_from_disk(str(path))
    except Exception as e:  # datasets raises many kinds
        raise CorpusError(f"cannot load Hugging Face dataset: {path} ({e})") from e
    if isinstance(data, datasets.DatasetDict):
        splits = list(data)
        if "train" in data:
            data = data["train"]
        elif len(splits) == 1:
            data = data[splits[0]]
        else:
            raise CorpusError(f"{path}: dataset has no 'train' split (splits: {', '.join(splits)})")
    columns = list(data.column_names)
    if text_field not in columns:
        raise CorpusError(
            f"{path}: dataset has no column '{text_field}' (columns: {', '.join(columns)})"
        )
    texts = []
    for row, value in enumerate(data[text_field]):
        if value is None:
            continue
        if not isinstance(value, str):
            kind = type(value).__name__
            raise CorpusError(f"{path}: column '{text_field}' row {row} is {kind}, not a string")
        texts.append(clean(value))
    return [t for t in texts if t]
