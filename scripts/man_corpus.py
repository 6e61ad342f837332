"""Write a plain-text corpus (one paragraph per line) from installed manual pages.

    python scripts/man_corpus.py nl corpus_nl.txt   # /usr/share/man/nl/man*/*

Renders each page with ``man -l`` (wide, UTF-8, overstrikes removed by ``col -bx``) and
keeps paragraphs of five or more words. Debian's translated pages give small corpora in
languages the tests were never tuned on (the README's Dutch and Swedish validation runs).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

MIN_WORDS = 5


def paragraphs(page: Path) -> list[str]:
    """The page's paragraphs, each on one line with its whitespace collapsed."""
    env = {**os.environ, "MANWIDTH": "2000"}
    shown = subprocess.run(
        ["man", "-E", "UTF-8", "-l", str(page)], capture_output=True, env=env, check=False
    ).stdout
    plain = subprocess.run(["col", "-bx"], input=shown, capture_output=True, check=False).stdout
    blocks = re.split(r"\n\s*\n", plain.decode("utf-8", errors="replace"))
    return [" ".join(b.split()) for b in blocks if len(b.split()) >= MIN_WORDS]


def main(language: str, out: str) -> None:
    """Write every page of ``/usr/share/man/<language>`` to ``out``."""
    pages = sorted(Path("/usr/share/man", language).glob("man*/*"))
    if not pages:
        sys.exit(f"no manual pages under /usr/share/man/{language}")
    lines = [line for page in pages for line in paragraphs(page)]
    Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{out}: {len(lines)} paragraphs from {len(pages)} pages")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/man_corpus.py LANGUAGE OUT.txt")
    main(sys.argv[1], sys.argv[2])
