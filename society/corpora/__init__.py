"""Real and synthetic text for the society.

Sources: the King James Bible (``"kjv"``), a synthetic grammar (``"grammar"``), plain-text
files and folders, JSON Lines files and Hugging Face datasets saved with ``save_to_disk``.
"""

from society.corpora.core import Corpus, CorpusError
from society.corpora.load import load_corpus

__all__ = ["Corpus", "CorpusError", "load_corpus"]
