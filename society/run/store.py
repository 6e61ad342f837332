"""Writes the run directory (its layout: ``society.run.layout``).

Every file is written to a temporary name and renamed into place, so a reader (or a
crash) never sees half a file; ``samples.jsonl`` grows by whole lines, one round at a time
(``samples.jsonl.gz``, for big societies, by one whole gzip member a round).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from society.config import Scenario
from society.run import layout
from society.sim.samples import SampleRows

GZIP_SAMPLES_FROM = 1000
"""With ``metrics.samples_gzip`` unset, societies of this many agents gzip their samples."""

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
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame as Parquet atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_temporary(path: Path) -> None:
    """Delete the ``.<name>.tmp`` files a failed write may have left under ``path``."""
    for tmp in Path(path).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def gzip_samples(setting: bool | None, agents: int) -> bool:
    """Whether a run writes ``samples.jsonl.gz``: ``metrics.samples_gzip``, else by size.

    Args:
        setting: ``metrics.samples_gzip`` (None: unset).
        agents: agents in the freshly built society.
    """
    return setting if setting is not None else agents >= GZIP_SAMPLES_FROM


def complete_lines(path: Path) -> int:
    """Cut a JSON-lines file after its last complete line; return its new size in bytes."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep != len(data):
        with open(path, "r+b") as handle:
            handle.truncate(keep)
    return keep


SAMPLES_LEVEL = 1
"""gzip level of big runs' samples: 1,000 agents x 100 utterances, 35 MB of JSON lines,
pack to 9.8 MB in 0.5 s (level 6: 8.3 MB in 1.6 s)."""
GZIP_WBITS = 31
"""zlib's window bits for a gzip member (header and trailer, ``mtime`` 0)."""
ENCODE_ROWS = 20_000
"""Rows encoded (and compressed) per piece when a round's samples are written."""


class RunStore:
    """Writes one run directory.

    Args:
        path: the run directory (created by :meth:`create`).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.manifest: dict[str, Any] = json.loads((self.path / layout.MANIFEST).read_text())
        self.samples = layout.samples(self.path)  # set by the runner for a new run

    def _encode(self, rows: Sequence[dict[str, Any]]) -> Iterator[bytes]:
        """The lines of ``rows`` as bytes, :data:`ENCODE_ROWS` rows at a time.

        Streamed so that a big round never holds its whole JSON text (10,000 agents x 100
        utterances: 350 MB, twice over as str and bytes); gzip runs keep one member.
        """
        encode = json.JSONEncoder(ensure_ascii=False).encode  # one encoder, not one per row
        packer = (
            zlib.compressobj(SAMPLES_LEVEL, zlib.DEFLATED, GZIP_WBITS)
            if self.samples.name.endswith(layout.GZIP)
            else None
        )
        for start in range(0, len(rows), ENCODE_ROWS):
            stop = start + ENCODE_ROWS
            if isinstance(rows, SampleRows):  # the round's log: formatted without the encoder
                data = rows.json_lines(start, stop).encode()
            else:
                data = "".join(encode(row) + "\n" for row in rows[start:stop]).encode()
            yield packer.compress(data) if packer else data
        if packer:
            yield packer.flush()

    @classmethod
    def create(
        cls,
        path: Path,
        scenario: Scenario,
        tokenizer_json: str | None = None,
        warnings: list[str] | None = None,
    ) -> RunStore:
        """Create the directory with config, a ``running`` manifest (and the tokenizer)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / layout.METRICS).mkdir(exist_ok=True)
        atomic_write_text(path / layout.CONFIG, scenario.to_toml())
        if tokenizer_json is not None:
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
            "pid": os.getpid(),
            "heartbeat": now(),
            "warnings": list(warnings or []),
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

    def append_samples(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append a round's lines to the samples file: all of them, or (on failure) none.

        ``samples.jsonl.gz`` grows by one gzip member holding the round's lines.
        """
        if not rows:
            return
        path = self.samples
        size = path.stat().st_size if path.exists() else 0
        try:
            with open(path, "ab") as handle:
                for data in self._encode(rows):
                    handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            if path.exists():  # never end in half a line
                with open(path, "r+b") as handle:
                    handle.truncate(size)
            raise

    def rewrite_samples(self, rows: Sequence[dict[str, Any]]) -> None:
        """Replace the samples file with ``rows`` atomically (a resumed run's replay)."""
        atomic_write_bytes(self.samples, b"".join(self._encode(rows)))

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
