"""A whole population's model states in one compressed safetensors file (never pickle).

Every agent's ``LanguageModel.state()`` is a flat dict of arrays. For each array name the
agents' arrays are raveled in column-major order (an n-gram table's columns stay
contiguous, which compresses well) and concatenated, with each agent's shape kept beside
them (``<name>.shape``, one row per agent), so agent ``i``'s slice is found from the shapes
alone. Each concatenation is stored in the narrowest dtype that gives back the same bits:

* integers: the smallest of ``uint8/16/32`` (``int8/16/32`` when negative) holding them
  (token ids < 65,536 become ``uint16``);
* floats: an unsigned integer dtype when every value is a whole number (unit n-gram counts),
  else ``float32`` when every value survives it bit for bit, else as they were.

The original dtype of each array is in the header (``__metadata__["society"]``, JSON), and
the round trip is exact: :func:`unpack` returns arrays equal, bit for bit and in dtype, to
those packed. The safetensors bytes are gzip-compressed (``mtime`` 0: the same population
gives the same file), so ``gunzip`` opens them too.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_bytes
from safetensors.numpy import save as save_bytes

LEVEL = 1
"""gzip level: 1,000 default n-gram agents pack to 8.4 MB in 0.4 s (level 6: 7.7 MB in 1.2 s)."""
AGENTS = "agents"
"""The tensor of agent ids, in packing order."""
_KEY = "society"
_NARROW = (np.uint8, np.uint16, np.uint32, np.int8, np.int16, np.int32)

State = Mapping[str, np.ndarray]


class PackError(ValueError):
    """States that cannot share one file, or a file that is not a packed population."""


#: Values cast back and compared at once by ``narrow`` (its transient memory).
BLOCK = 1 << 20


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one dtype hold the same bytes (``-0.0`` and NaN payloads too)."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    unsigned = f"u{a.dtype.itemsize}" if a.dtype.itemsize in (1, 2, 4, 8) else None
    if unsigned is None:
        return a.shape == b.shape and a.tobytes() == b.tobytes()
    return a.shape == b.shape and bool(np.array_equal(a.view(unsigned), b.view(unsigned)))


def narrow(values: np.ndarray) -> np.ndarray:
    """``values`` in the narrowest dtype that casts back to the same bits (see the module)."""
    if values.size == 0 or values.dtype.kind not in "iuf" or values.dtype.itemsize == 1:
        return values
    candidates: tuple = _NARROW
    if values.dtype.kind == "f":
        candidates = (*_NARROW, np.float32) if values.dtype.itemsize > 4 else _NARROW
    for dtype in candidates:
        if np.dtype(dtype).itemsize >= values.dtype.itemsize:
            continue
        if np.dtype(dtype).kind in "iu":
            if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
                continue
            info = np.iinfo(dtype)
            if values.min() < info.min or values.max() > info.max:
                continue
        with np.errstate(invalid="ignore", over="ignore"):
            stored = values.astype(dtype)
        if _round_trips(stored, values):
            return stored
    return values


def _round_trips(stored: np.ndarray, values: np.ndarray) -> bool:
    """Whether ``stored`` casts back to ``values``' bits, checked :data:`BLOCK` values at once."""
    flat_stored, flat_values = stored.reshape(-1), values.reshape(-1)
    for lo in range(0, flat_values.size, BLOCK):
        back = flat_stored[lo : lo + BLOCK].astype(values.dtype)
        if not _same_bits(back, flat_values[lo : lo + BLOCK]):
            return False
    return True


def pack(
    states: Mapping[int, State] | Iterable[tuple[int, State]],
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """Pack agents' states into gzip-compressed safetensors bytes.

    Args:
        states: agent id -> its state, or ``(id, state)`` pairs (a generator keeps one
            agent's state alive at a time); every state with the same names, ranks, dtypes.
        metadata: strings kept in the header (backend, round, ...).

    Returns:
        The compressed file's bytes.

    Raises:
        PackError: the states differ in their array names, ranks or dtypes.
    """
    pairs = states.items() if isinstance(states, Mapping) else states
    ids: list[int] = []
    parts: dict[str, list[np.ndarray]] = {}
    shapes: dict[str, list[tuple[int, ...]]] = {}
    dtypes: dict[str, str] = {}
    for agent, state in pairs:
        if ids and set(state) != set(dtypes):
            raise PackError(f"agent {agent} has arrays {sorted(state)}, not {sorted(dtypes)}")
        for name, value in state.items():
            array = np.asarray(value)
            if not ids:
                parts[name], shapes[name], dtypes[name] = [], [], array.dtype.str
            elif array.dtype.str != dtypes[name] or array.ndim != len(shapes[name][0]):
                raise PackError(f"{name}: agent {agent} differs in rank or dtype")
            parts[name].append(array.ravel(order="F"))
            shapes[name].append(array.shape)
        ids.append(int(agent))
    tensors: dict[str, np.ndarray] = {AGENTS: np.asarray(ids, dtype=np.int64)}
    for name in sorted(parts):
        tensors[name] = np.ascontiguousarray(narrow(np.concatenate(parts.pop(name))))
        rank = len(shapes[name][0])
        tensors[f"{name}.shape"] = np.array(shapes[name], dtype=np.int64).reshape(len(ids), rank)
    header = {**(metadata or {}), _KEY: json.dumps({"dtypes": dtypes})}
    raw = save_bytes(tensors, metadata=header)
    del tensors  # the serialised copy is all that is compressed
    return gzip.compress(raw, compresslevel=LEVEL, mtime=0)


def read_metadata(raw: bytes) -> dict[str, str]:
    """The header metadata of uncompressed safetensors bytes (without the dtype table)."""
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    meta = dict(header.get("__metadata__") or {})
    meta.pop(_KEY, None)
    return meta


class Population:
    """A packed population, opened: agent ids, header metadata and each agent's state.

    Args:
        data: the compressed bytes :func:`pack` wrote.

    Raises:
        PackError: the bytes are not a packed population.
    """

    def __init__(self, data: bytes) -> None:
        try:
            raw = gzip.decompress(data)
            self.tensors = load_bytes(raw)
            size = int.from_bytes(raw[:8], "little")
            header = json.loads(raw[8 : 8 + size]).get("__metadata__") or {}
            self.dtypes: dict[str, str] = json.loads(header[_KEY])["dtypes"]
        except (OSError, EOFError, ValueError, KeyError, TypeError, SafetensorError) as error:
            raise PackError(f"not a packed population: {error}") from None
        self.metadata = read_metadata(raw)
        self.ids: list[int] = [int(i) for i in self.tensors[AGENTS]]
        self._row = {agent: row for row, agent in enumerate(self.ids)}
        self._starts = {
            name: np.concatenate([[0], np.cumsum(np.prod(self.tensors[f"{name}.shape"], axis=1))])
            for name in self.dtypes
        }

    def __contains__(self, agent: int) -> bool:
        return agent in self._row

    def state(self, agent: int) -> dict[str, np.ndarray]:
        """Agent ``agent``'s state, as it was packed (same dtypes, shapes and bits).

        Raises:
            KeyError: no such agent in the file.
        """
        row = self._row[agent]
        out = {}
        for name, dtype in self.dtypes.items():
            start, stop = self._starts[name][row], self._starts[name][row + 1]
            shape = tuple(int(d) for d in self.tensors[f"{name}.shape"][row])
            flat = self.tensors[name][start:stop].astype(np.dtype(dtype))
            out[name] = flat.reshape(shape, order="F").copy(order="C")
        return out

    def states(self) -> dict[int, dict[str, np.ndarray]]:
        """Every agent's state, by id, in packing order."""
        return {agent: self.state(agent) for agent in self.ids}
