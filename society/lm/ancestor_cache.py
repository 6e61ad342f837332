"""Generation 0, cached: the ancestor trained on the real training split, kept on disk.

Training a neural ancestor takes minutes; a second run of the same scenario should not
pay it again. The cache key is a SHA-256 of everything that determines the trained
weights: the training texts, the tokenizer, the model and training keys of
``[language_model]`` (not the per-round or hardware keys), a local checkpoint's files,
and :data:`FORMAT`. Entries are safetensors files under ``$SOCIETY_CACHE/ancestors``
(default: the user cache directory, e.g. ``~/.cache/society``). Cheap backends (n-gram)
are fitted directly and not cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from safetensors.numpy import load_file
from safetensors.numpy import save as save_bytes

from society.config import LanguageModelConfig, TransformerConfig
from society.lm.base import LanguageModel
from society.lm.factory import build_language_model, resolved_precision
from society.lm.tokenizer import SharedTokenizer

FORMAT = "ancestor-v3"
"""Bump when training code changes what an ancestor is."""

NOT_IN_KEY = ("epochs", "steps", "device", "threads", "agents_per_batch", "communities")
"""``[language_model]`` keys that do not change the ancestor."""


def cache_root() -> Path:
    """``$SOCIETY_CACHE``, else the platform's user cache directory for ``society``."""
    env = os.environ.get("SOCIETY_CACHE")
    if env:
        return Path(env)
    try:
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("society"))
    except ImportError:  # pragma: no cover - platformdirs ships with most installs
        return Path.home() / ".cache" / "society"


def _checkpoint_digest(path: str) -> dict[str, list]:
    """Name, size and modification time of every file of a local checkpoint."""
    root = Path(path)
    return {
        str(p.relative_to(root)): [p.stat().st_size, p.stat().st_mtime_ns]
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def ancestor_key(
    config: LanguageModelConfig, tokenizer: SharedTokenizer, texts: Sequence[str]
) -> str:
    """Content hash of what determines the trained ancestor."""
    digest = hashlib.sha256()
    settings = config.model_dump(mode="json", exclude=set(NOT_IN_KEY))
    checkpoint = None
    if isinstance(config, TransformerConfig):
        # "auto" trains in different precisions on different hardware
        settings["precision"] = resolved_precision(config)
        checkpoint = config.path
    header = {"format": FORMAT, "config": settings}
    if isinstance(config, TransformerConfig) and config.lora:
        header["backend"] = "lora-population"  # trained unlike the former peft path
    if checkpoint:
        header["checkpoint"] = _checkpoint_digest(checkpoint)
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(tokenizer.to_str().encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def build_ancestor(
    config: LanguageModelConfig, tokenizer: SharedTokenizer, texts: Sequence[str]
) -> LanguageModel:
    """The generation-0 model: trained on ``texts``, or read from the cache.

    Args:
        config: the scenario's ``[language_model]`` table.
        tokenizer: the run's shared tokenizer.
        texts: the real training split.

    Returns:
        The trained ancestor.
    """
    model = build_language_model(config, tokenizer)
    if not isinstance(config, TransformerConfig):  # cheap: fitted directly
        model.fit(texts)
        return model
    path = cache_root() / "ancestors" / f"{ancestor_key(config, tokenizer, texts)}.safetensors"
    if path.is_file():
        model.load(load_file(path))
        return model
    model.fit(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(save_bytes(model.state(), metadata={"format": FORMAT}))
    os.replace(tmp, path)
    return model
