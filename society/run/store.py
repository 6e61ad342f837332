"""Writes the run directory (its layout: ``society.run.layout``).

Every file is written to a temporary name and renamed into place, so a reader (or a
crash) never sees half a file; ``samples.jsonl`` grows by whole lines, one round at a time.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from society.config import Scenario
from society.run import layout

PACKAGES = ("society", "mesa", "numpy", "scipy", "pandas", "tokenizers", "networkx", "torch")


def now() -> str:
    """UTC timestamp in ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a run's numbers."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame as Parquet atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


class RunStore:
    """Writes one run directory.

    Args:
        path: the run directory (created by :meth:`create`).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.manifest: dict[str, Any] = json.loads((self.path / layout.MANIFEST).read_text())

    @classmethod
    def create(cls, path: Path, scenario: Scenario, tokenizer_json: str) -> RunStore:
        """Create the directory with config, tokenizer and a ``running`` manifest."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / layout.METRICS).mkdir(exist_ok=True)
        atomic_write_text(path / layout.CONFIG, scenario.to_toml())
        atomic_write_text(path / layout.TOKENIZER, tokenizer_json)
        manifest = {
            "scenario": scenario.name,
            "seed": scenario.seed,
            "rounds": scenario.rounds,
            "rounds_done": 0,
            "status": layout.RUNNING,
            "started": now(),
            "finished": None,
            "host": socket.gethostname(),
            "platform": platform.platform(),
            "command": " ".join(sys.argv),
            "versions": package_versions(),
        }
        atomic_write_text(path / layout.MANIFEST, json.dumps(manifest, indent=2))
        return cls(path)

    def write_tables(self, tables: dict[str, pd.DataFrame]) -> None:
        """Replace ``metrics/<name>.parquet`` for each table given (names: ``layout.TABLES``)."""
        for name, frame in tables.items():
            atomic_write_parquet(layout.table(self.path, name), frame)

    def append_samples(self, rows: list[dict[str, Any]]) -> None:
        """Append whole lines to ``samples.jsonl`` in one write."""
        if not rows:
            return
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        with open(self.path / layout.SAMPLES, "a", encoding="utf-8") as handle:
            handle.write(text)

    def write_json(self, name: str, data: Any) -> None:
        """Write a JSON file at the top of the run directory (e.g. ``layout.EVENTS``)."""
        atomic_write_text(self.path / name, json.dumps(data, indent=2))

    def write_graph(self, graph: Any) -> None:
        """Write the network as node-link JSON: ``network.json`` (latest), when it changed.

        The first graph written is also kept as ``network_initial.json``.
        """
        import networkx as nx

        text = json.dumps(nx.node_link_data(graph, edges="edges"), default=str)
        if text == getattr(self, "_graph_text", None):
            return
        if not (self.path / layout.NETWORK_INITIAL).exists():
            atomic_write_text(self.path / layout.NETWORK_INITIAL, text)
        atomic_write_text(self.path / layout.NETWORK, text)
        self._graph_text = text

    def update_manifest(self, **fields: Any) -> None:
        """Merge ``fields`` into ``manifest.json``."""
        self.manifest.update(fields)
        atomic_write_text(self.path / layout.MANIFEST, json.dumps(self.manifest, indent=2))
