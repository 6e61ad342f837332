import json
import re
from pathlib import Path

import pytest

from society.corpora import Corpus, CorpusError, load_corpus
from society.corpora.grammar import Grammar
from society.corpora.text import split_sentences

PROSE = (
    "The first sentence is here. The second one asks a question? Yes!\n"
    "It goes on,\n  across a line break. Mr. Smith came by.\n\n"
    "A new paragraph starts. e.g. this stays whole. Done\n"
)


def _all(corpus: Corpus) -> list[str]:
    return corpus.train + corpus.heldout


# --- plain text ----------------------------------------------------------------------


def test_text_file_by_sentence(tmp_path: Path) -> None:
    (tmp_path / "book.txt").write_text(PROSE, encoding="utf-8")
    corpus = load_corpus("book.txt", base_dir=tmp_path)
    assert corpus.name == "book"
    assert corpus.grammar is None
    assert sorted(_all(corpus)) == sorted(
        [
            "The first sentence is here.",
            "The second one asks a question?",
            "Yes!",
            "It goes on, across a line break.",
            "Mr. Smith came by.",
            "A new paragraph starts. e.g. this stays whole.",
            "Done",
        ]
    )


def test_text_file_by_line_and_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_text(PROSE.replace("\n", "\r\n"), encoding="utf-8")
    lines = load_corpus(str(path), unit="line")
    assert sorted(_all(lines)) == sorted(
        [
            "The first sentence is here. The second one asks a question? Yes!",
            "It goes on,",
            "across a line break. Mr. Smith came by.",
            "A new paragraph starts. e.g. this stays whole. Done",
        ]
    )
    paragraphs = load_corpus(str(path), unit="paragraph")
    assert len(_all(paragraphs)) == 2
    assert all("  " not in t and "\n" not in t for t in _all(paragraphs))


def test_sentence_rules() -> None:
    long = " ".join(f"w{i}" for i in range(130)) + "."
    chunks = split_sentences(long + " Next one.")
    assert [len(c.split()) for c in chunks] == [44, 43, 43, 2]
    assert split_sentences('He said "Go." Then he left. Hi. A b') == [
        'He said "Go."',
        "Then he left.",
        "Hi.",
        "A b",
    ]
    assert split_sentences("Short. X") == ["Short."]  # fragments under 3 characters dropped


def test_gutenberg_header_and_footer_are_stripped(tmp_path: Path) -> None:
    text = (
        "The Project Gutenberg eBook of Something\nLicense blah.\n"
        "*** START OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\n"
        "Chapter one. It was a dark night.\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\nMore license text.\n"
    )
    (tmp_path / "pg.txt").write_text(text, encoding="utf-8")
    texts = _all(load_corpus(str(tmp_path / "pg.txt")))
    assert sorted(texts) == ["Chapter one.", "It was a dark night."]


def test_folder_reads_txt_files_recursively_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    (folder / "b").mkdir(parents=True)
    (folder / "a.txt").write_text("Alpha one.\nAlpha two.\n", encoding="utf-8")
    (folder / "b" / "c.txt").write_text("Gamma one.\n", encoding="utf-8")
    (folder / "notes.md").write_text("Ignored entirely.\n", encoding="utf-8")
    corpus = load_corpus("books", base_dir=tmp_path, unit="line")
    assert corpus.name == "books"
    assert sorted(_all(corpus)) == ["Alpha one.", "Alpha two.", "Gamma one."]


# --- JSON Lines and Hugging Face datasets ---------------------------------------------


def test_jsonl(tmp_path: Path) -> None:
    rows = [{"text": f"  story   number {i} ", "id": i} for i in range(20)]
    rows.append({"text": "   "})  # empty after cleaning: dropped
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, "")  # blank lines are skipped
    (tmp_path / "data.jsonl").write_text("\n".join(lines), encoding="utf-8")
    corpus = load_corpus("data.jsonl", base_dir=tmp_path)
    assert corpus.name == "data"
    assert sorted(_all(corpus)) == sorted(f"story number {i}" for i in range(20))
    body = [json.dumps({"body": f"text {i}"}) for i in range(5)]
    (tmp_path / "body.jsonl").write_text("\n".join(body), encoding="utf-8")
    assert len(_all(load_corpus(str(tmp_path / "body.jsonl"), text_field="body"))) == 5


def test_hf_dataset_and_dataset_dict(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    texts = [f"row {i} says hello" for i in range(30)]
    data = datasets.Dataset.from_dict({"text": texts, "label": list(range(30))})
    data.save_to_disk(str(tmp_path / "ds"))
    corpus = load_corpus("ds", base_dir=tmp_path)
    assert corpus.name == "ds"
    assert sorted(_all(corpus)) == sorted(texts)

    other = datasets.Dataset.from_dict({"text": ["held back", "not used"]})
    dd = datasets.DatasetDict({"train": data, "test": other})
    dd.save_to_disk(str(tmp_path / "dd"))
    assert sorted(_all(load_corpus(str(tmp_path / "dd")))) == sorted(texts)

    with pytest.raises(CorpusError, match=re.escape(str(tmp_path / "ds"))) as err:
        load_corpus(str(tmp_path / "ds"), text_field="body")
    assert "body" in str(err.value)


# --- built-in sources -------------------------------------------------------------------


def test_kjv() -> None:
    corpus = load_corpus("kjv")
    verses = _all(corpus)
    assert corpus.name == "kjv"
    assert len(verses) > 20000
    assert len(verses) == 31102
    assert "In the beginning God created the heavens and the earth." in verses
    assert "Jesus wept." in verses
    assert not any(re.match(r"\s*\d+:\d+", v) for v in verses)
    assert not any(re.search(r"\d+:\d+", v) for v in verses)  # no inner references either
    assert all(v == " ".join(v.split()) for v in verses)


def test_grammar_source() -> None:
    corpus = load_corpus("grammar", grammar_texts=300, split_seed=3)
    assert corpus.name == "grammar"
    assert isinstance(corpus.grammar, Grammar)
    assert len(_all(corpus)) == 300
    assert all(corpus.grammar.is_grammatical(t) for t in _all(corpus))
    again = load_corpus("grammar", grammar_texts=300, split_seed=3)
    assert again.train == corpus.train and again.heldout == corpus.heldout
    other = load_corpus("grammar", grammar_texts=300, split_seed=4)
    assert other.train != corpus.train


# --- the split ---------------------------------------------------------------------------


@pytest.fixture
def numbered(tmp_path: Path) -> Path:
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(f"text {i}" for i in range(200)), encoding="utf-8")
    return path


def test_split_is_deterministic_disjoint_and_sized(numbered: Path) -> None:
    a = load_corpus(str(numbered), unit="line", holdout=0.25, split_seed=5)
    b = load_corpus(str(numbered), unit="line", holdout=0.25, split_seed=5)
    c = load_corpus(str(numbered), unit="line", holdout=0.25, split_seed=6)
    assert (a.train, a.heldout) == (b.train, b.heldout)
    assert set(a.heldout) != set(c.heldout)
    assert len(a.heldout) == 50 and len(a.train) == 150
    assert not set(a.train) & set(a.heldout)
    assert sorted(a.train + a.heldout) == sorted(f"text {i}" for i in range(200))
    assert a.train != sorted(a.train, key=lambda t: int(t.split()[1]))  # shuffled


def test_split_depends_only_on_content(numbered: Path, tmp_path: Path) -> None:
    copy = tmp_path / "sub" / "renamed.txt"
    copy.parent.mkdir()
    copy.write_bytes(numbered.read_bytes())
    a = load_corpus(str(numbered), unit="line", split_seed=1)
    b = load_corpus("sub/renamed.txt", base_dir=tmp_path, unit="line", split_seed=1)
    assert (a.train, a.heldout) == (b.train, b.heldout)


def test_split_keeps_one_text_each_side(tmp_path: Path) -> None:
    path = tmp_path / "two.txt"
    path.write_text("one\ntwo\n", encoding="utf-8")
    for holdout in (0.0, 0.1, 0.9):
        corpus = load_corpus(str(path), unit="line", holdout=holdout)
        assert len(corpus.train) == 1 and len(corpus.heldout) == 1


def test_max_texts_takes_a_deterministic_subset_before_splitting(numbered: Path) -> None:
    small = load_corpus(str(numbered), unit="line", max_texts=40, holdout=0.1, split_seed=2)
    again = load_corpus(str(numbered), unit="line", max_texts=40, holdout=0.1, split_seed=2)
    assert (small.train, small.heldout) == (again.train, again.heldout)
    assert len(small.train) == 36 and len(small.heldout) == 4
    bigger = load_corpus(str(numbered), unit="line", max_texts=80, split_seed=2)
    assert set(_all(small)) < set(_all(bigger))
    everything = load_corpus(str(numbered), unit="line", max_texts=10_000)
    assert len(_all(everything)) == 200


# --- errors --------------------------------------------------------------------------------


def _raises_naming(path: Path | str, **kwargs) -> str:
    with pytest.raises(CorpusError) as err:
        load_corpus(str(path), **kwargs)
    message = str(err.value)
    assert str(path) in message
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    message = _raises_naming(tmp_path / "nope.txt")
    assert message == f"corpus file not found: {tmp_path / 'nope.txt'}"
    with pytest.raises(CorpusError, match=re.escape(str(tmp_path / "gone.txt"))):
        load_corpus("gone.txt", base_dir=tmp_path)


def test_empty_and_whitespace_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    assert _raises_naming(empty) == f"empty corpus: {empty} has no text"
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n\t\n   \n", encoding="utf-8")
    assert "empty corpus" in _raises_naming(blank, unit="line")


def test_too_small(tmp_path: Path) -> None:
    one = tmp_path / "one.txt"
    one.write_text("Only one sentence here.\n", encoding="utf-8")
    message = _raises_naming(one)
    assert message == f"corpus too small: {one} has 1 text, need at least 2 to split"


def test_undecodable_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Caf\u00e9 au lait. Tr\u00e8s bien.".encode("latin-1"))
    assert "not UTF-8" in _raises_naming(path)


def test_unreadable_path(tmp_path: Path) -> None:
    folder = tmp_path / "empty_folder"
    folder.mkdir()
    assert "no .txt files" in _raises_naming(folder)


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (['{"text": "fine"}', '{"text": "fine too"}', "{not json"], "line 3: not valid JSON"),
        (['{"text": "fine"}', '{"body": "no text"}'], 'line 2: no "text" field'),
        (['{"text": "fine"}', "[1, 2]"], "line 2: expected a JSON object"),
        (['{"text": 5}'], 'line 1: "text" is int, not a string'),
    ],
)
def test_bad_jsonl(tmp_path: Path, lines: list[str], problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    message = _raises_naming(path)
    assert message.startswith(f"{path} {problem}")


def test_hf_dataset_errors(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"text": ["only one row"]}).save_to_disk(str(tmp_path / "one"))
    assert "corpus too small" in _raises_naming(tmp_path / "one")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "state.json").write_text("{}", encoding="utf-8")
    assert "cannot load" in _raises_naming(broken)


def test_bad_arguments(numbered: Path) -> None:
    assert "unit" in _raises_naming(numbered, unit="word")
    assert "holdout" in _raises_naming(numbered, unit="line", holdout=1.0)
    assert "max_texts" in _raises_naming(numbered, unit="line", max_texts=1)
    with pytest.raises(CorpusError, match="grammar_texts"):
        load_corpus("grammar", grammar_texts=1)


def test_corpus_error_is_a_value_error() -> None:
    assert issubclass(CorpusError, ValueError)
