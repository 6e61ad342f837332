"""The resume state: a society after a round, saved compactly so a killed run continues there.

``RUN/state.pkl.gz`` (``layout.STATE``) holds the living society after round ``R``: every
agent's model (n-gram counts, transformer or LoRA weights), data buffers and last
utterances, the graph and space as events left them, the living scenario (``set`` events),
the event log, the society's random streams, the metric tables collected so far and every
measure's carried state (novelty trackers...), plus the process-wide random streams and the
size ``samples.jsonl`` had at that point. It is one pickle of the ``Society`` object, so
whatever a future stage keeps between rounds is saved without a list to maintain here.

What a rebuild from ``config.toml`` gives back identically (corpora, tokenizer, ancestors,
critics, the measures' setup, the table reporters) is not written: the pickler names those
objects by a path (``persistent_id``) and :func:`restore` takes them from a freshly built
society, which keeps the file small (``islands.toml``, 12 n-gram agents: ~0.3 MB).

The file is replaced atomically, only the latest is kept, and the runner removes it when
the run ends ``done`` (``[checkpoints] keep_state = true`` keeps it). It is a pickle: resume
only run directories you trust.
"""

from __future__ import annotations

import gzip
import io
import itertools
import pickle
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from society.run import layout
from society.run.store import atomic_write_bytes
from society.sim.model import Society

FORMAT = 3
"""Bump when what the state holds changes; an older state is ignored (resume replays).

2: utterances logged as tuples (``sim.samples``), neologism origins with slots.
3: neologism origins as plain tuples."""

BIG = 64 << 20
"""States larger than this (bytes, before compression) are stored without compressing."""

#: Society attributes a rebuild from the scenario gives back unchanged (with their members).
STATIC = ("sources", "corpus", "tokenizer", "ancestor", "ancestors", "heldout", "critics", "shards")

_ATOMS = (int, float, complex, str, bytes, bool, type(None))
_ATOM_TYPES = frozenset(_ATOMS)  # exact types: one set lookup per pickled object


AGENTS_PER_ROUND = 200
"""With ``checkpoints.state_every`` unset, the state is saved once per this many agents' rounds."""
MAX_INTERVAL = 10
"""... but at least every this many rounds (what a resume may have to recompute)."""


def state_interval(state_every: int | None, agents: int) -> int:
    """Rounds between resume states: ``state_every`` when set, else by the society's size.

    Each state holds every agent, so its cost grows with the population: unset, a state is
    saved every ``agents // 200`` rounds, at least every round and at most every 10 (1 up
    to 399 agents, 5 at 1,000, 10 from 2,000).

    Args:
        state_every: ``checkpoints.state_every`` (None: unset; 0: never).
        agents: agents in the society now.
    """
    if state_every is not None:
        return state_every
    return min(MAX_INTERVAL, max(1, agents // AGENTS_PER_ROUND))


class StateError(RuntimeError):
    """A resume state that cannot be used (unreadable, another format, another society)."""


@dataclass(frozen=True)
class Header:
    """What a state says about itself, readable without rebuilding the society.

    Attributes:
        round: the round the society had finished.
        samples_bytes: the size of ``samples.jsonl`` when it was saved.
        static: the path and type name of every object left to the rebuild.
    """

    round: int
    samples_bytes: int
    static: dict[str, str]


def _members(path: str, obj: Any) -> Iterator[tuple[str, Any]]:
    """``obj`` and, one level down, its attributes or mapping values, each with a path."""
    yield path, obj
    members = obj.items() if isinstance(obj, dict) else getattr(obj, "__dict__", {}).items()
    for key, value in members:
        if not isinstance(value, _ATOMS):
            yield f"{path}.{key}", value


def static_objects(society: Society) -> dict[str, Any]:
    """Every object of ``society`` a rebuild gives back, by a path that names it in both.

    Args:
        society: a society (living, or freshly built from the same scenario).

    Returns:
        Path -> object (atoms such as ints and strings are never included).
    """
    out: dict[str, Any] = {}
    roots = [(name, getattr(society, name)) for name in STATIC]
    roots.append(("measures.setup", society.measures.setup))
    for root, obj in roots:
        for path, value in _members(root, obj):
            out.setdefault(path, value)
    collector = society.datacollector
    for name, reporter in collector.model_reporters.items():
        out[f"reporter.round.{name}"] = reporter
    for name, reporter in collector.agent_reporters.items():
        out[f"reporter.agent.{name}"] = reporter
    return out


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, static: dict[str, Any]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.paths = {id(obj): path for path, obj in static.items()}
        self.used: dict[str, str] = {}
        self._keep = list(static.values())  # ids stay valid while pickling

    def persistent_id(self, obj: Any) -> str | None:
        # Called for every object pickled (a million at 1,000 agents): exact atom types are
        # answered by a set lookup; atom subclasses are never static objects either.
        if type(obj) in _ATOM_TYPES:
            return None
        path = self.paths.get(id(obj))
        if path is not None:
            self.used[path] = type(obj).__qualname__
        return path


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, static: dict[str, Any]) -> None:
        super().__init__(file)
        self.static = static

    def persistent_load(self, pid: Any) -> Any:
        try:
            return self.static[pid]
        except KeyError:
            raise StateError(f"the rebuilt society has no {pid}") from None


def _next_id(society: Society) -> int:
    """The unique id Mesa gives the society's next agent (its counter is kept by Mesa)."""
    counter = mesa.Agent._ids[society]
    match = re.fullmatch(r"count\((\d+)\)", repr(counter))
    if match is None:  # pragma: no cover - CPython's itertools.count repr
        raise StateError(f"cannot read Mesa's agent id counter: {counter!r}")
    return int(match.group(1))


def _global_streams() -> dict[str, Any]:
    """The process-wide random streams (Python, NumPy's legacy, torch when loaded)."""
    out: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state()}
    torch = _torch()
    if torch is not None:
        out["torch"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def _set_global_streams(streams: dict[str, Any]) -> None:
    random.setstate(streams["python"])
    np.random.set_state(streams["numpy"])
    torch = _torch()
    if torch is not None and "torch" in streams:
        torch.set_rng_state(streams["torch"])
        if "cuda" in streams and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(streams["cuda"])


def _torch() -> Any:
    import sys

    return sys.modules.get("torch")  # only a run that loaded torch has its streams to keep


def forget_neighbourhoods(society: Society) -> None:
    """Drop the cells' cached neighbourhoods, as Mesa does when a connection changes.

    Mesa pickles a cell without its connections, but with its cached ``neighborhood``: a
    collection of the neighbouring cells, each with its own cache, so pickling recursed
    once per cell of a connected graph (a 120-agent small world already passed Python's
    recursion limit). The cells' method caches are cleared too: Mesa clears them (when a
    connection changes) only if a cell's ``neighborhood`` is cached, so a cell whose
    cache was dropped alone would later read a neighbourhood from before an event.
    """
    cells = list(society.space.all_cells)
    for cell in cells:
        cell.__dict__.pop("neighborhood", None)
    for kind in {type(cell) for cell in cells}:
        kind.get_neighborhood.cache_clear()
        kind._neighborhood.cache_clear()


def save_state(run: Path, society: Society, samples_bytes: int) -> int:
    """Write ``RUN/state.pkl.gz`` (atomically replacing the previous one).

    Call it after the round is on disk: the society's pending samples already popped.

    Args:
        run: the run directory.
        society: the society after its round.
        samples_bytes: the size of ``samples.jsonl`` now.

    Returns:
        The size of the file in bytes.

    Raises:
        StateError: something the society holds cannot be saved (nothing is written).
        OSError: the file could not be written (the previous state is left as it was).
    """
    forget_neighbourhoods(society)
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, static_objects(society))
    try:
        pickler.dump(society)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise StateError(f"cannot save the society: {error}") from None
    header = {
        "format": FORMAT,
        "round": society.round,
        "samples_bytes": samples_bytes,
        "static": pickler.used,
        "next_id": _next_id(society),
        "streams": _global_streams(),
    }
    data = pickle.dumps((header, buffer.getvalue()), protocol=pickle.HIGHEST_PROTOCOL)
    level = 3 if len(data) < BIG else 0  # weights barely compress: store big states plain
    packed = gzip.compress(data, compresslevel=level, mtime=0)
    atomic_write_bytes(run / layout.STATE, packed)
    return len(packed)


def _read(run: Path) -> tuple[dict[str, Any], bytes]:
    try:
        header, body = pickle.loads(gzip.decompress((run / layout.STATE).read_bytes()))
    except FileNotFoundError:
        raise
    except Exception as error:  # a torn or foreign file: resume replays instead
        raise StateError(f"{layout.STATE}: unreadable: {error}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise StateError(f"{layout.STATE}: another format (this version reads {FORMAT})")
    return header, body


def read_header(run: Path) -> Header | None:
    """The saved state's header (None when the run has no usable state).

    Args:
        run: the run directory.
    """
    try:
        header, _ = _read(run)
    except (FileNotFoundError, StateError):
        return None
    return Header(int(header["round"]), int(header["samples_bytes"]), dict(header["static"]))


def restore(run: Path, fresh: Society) -> Society:
    """The society saved in ``RUN/state.pkl.gz``, continuing exactly where it stopped.

    Args:
        run: the run directory.
        fresh: a society freshly built from the run's ``config.toml``: it gives the objects
            the state left out (corpora, tokenizer, ancestors, ...); on a StateError it is
            unchanged, so a caller can replay it from round 0 instead.

    Returns:
        The restored society, after the saved round; the process-wide random streams are
        set as they were.

    Raises:
        StateError: the state does not fit the rebuilt society.
        FileNotFoundError: the run has no state.
    """
    header, body = _read(run)
    static = static_objects(fresh)
    for path, kind in header["static"].items():
        if path not in static or type(static[path]).__qualname__ != kind:
            raise StateError(f"{layout.STATE}: the rebuilt society differs at {path}")
    try:
        society = _Unpickler(io.BytesIO(body), static).load()
    except StateError:
        raise
    except Exception as error:  # e.g. CUDA tensors on a machine without CUDA
        raise StateError(f"{layout.STATE}: cannot load: {error}") from None
    if society.round != header["round"]:
        raise StateError(f"{layout.STATE}: round {society.round}, header {header['round']}")
    mesa.Agent._ids[society] = itertools.count(int(header["next_id"]))
    mesa.Agent._ids.pop(fresh, None)  # Mesa's counters hold their model: let ``fresh`` go
    _set_global_streams(header["streams"])
    return society


def remove_state(run: Path) -> None:
    """Delete the run's resume state (a finished run does not need it)."""
    (run / layout.STATE).unlink(missing_ok=True)
