"""Packing a population's states into one file: exact round trips, narrow dtypes, errors."""

import gzip

import numpy as np
import pytest

from society.run.population import AGENTS, PackError, Population, narrow, pack


def _states(rng: np.random.Generator, agents: int = 5, order: int = 3) -> dict:
    out = {}
    for agent in range(agents):
        rows = int(rng.integers(0, 40))
        out[10 + agent] = {
            "order": np.array(order, dtype=np.int64),
            "discount": np.array(0.75, dtype=np.float64),
            "memory": np.array(0.3, dtype=np.float64),
            "grams": rng.integers(0, 1999, (rows, order)).astype(np.int32),
            "counts": np.round(rng.random(rows) * 5, 9),
        }
    return out


def _assert_identical(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for name, array in want.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
        assert got[name].tobytes() == array.tobytes(), name


def test_every_agent_comes_back_bit_for_bit():
    states = _states(np.random.default_rng(0))
    population = Population(pack(states, {"round": "4"}))
    assert population.ids == list(states) and population.metadata == {"round": "4"}
    for agent, state in states.items():
        _assert_identical(population.state(agent), state)
    assert 99 not in population and 10 in population


def test_ids_and_whole_counts_are_stored_narrow():
    rng = np.random.default_rng(1)
    states = _states(rng)
    for state in states.values():
        state["counts"] = rng.integers(1, 60, len(state["grams"])).astype(np.float64)
    population = Population(pack(states))
    assert population.tensors["grams"].dtype == np.uint16
    assert population.tensors["counts"].dtype == np.uint8
    assert population.tensors["discount"].dtype == np.float32  # 0.75 is exact in float32
    assert population.tensors["memory"].dtype == np.float64  # 0.3 is not
    assert population.tensors[AGENTS].tolist() == list(states)
    for agent, state in states.items():
        _assert_identical(population.state(agent), state)


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        (np.array([0, 255], dtype=np.int32), np.uint8),
        (np.array([0, 70000], dtype=np.int64), np.uint32),
        (np.array([-3, 100], dtype=np.int64), np.int8),
        (np.array([0.5, 2.0], dtype=np.float64), np.float32),
        (np.array([1.0, 3.0], dtype=np.float64), np.uint8),
        (np.array([-0.0, 1.0], dtype=np.float64), np.float32),  # -0.0 is no integer
        (np.array([np.nan, 1.0], dtype=np.float64), np.float32),
        (np.array([0.1, 1.0], dtype=np.float64), np.float64),
        (np.array([2**40], dtype=np.int64), np.int64),
    ],
)
def test_narrow_picks_the_smallest_exact_dtype(values, dtype):
    stored = narrow(values)
    assert stored.dtype == dtype
    assert stored.astype(values.dtype).tobytes() == values.tobytes()


def test_the_file_is_gzip_and_deterministic():
    states = _states(np.random.default_rng(2))
    data = pack(states)
    assert data == pack(states)
    assert gzip.decompress(data)[8:9] == b"{"  # safetensors: header length, then JSON


def test_states_that_do_not_fit_one_file_are_refused():
    states = _states(np.random.default_rng(3), agents=2)
    states[11] = {**states[11], "extra": np.zeros(2)}
    with pytest.raises(PackError, match="agent 11"):
        pack(states)
    states = _states(np.random.default_rng(3), agents=2)
    states[11]["grams"] = states[11]["grams"].astype(np.int64)
    with pytest.raises(PackError, match="grams"):
        pack(states)
    for data in (b"not gzip", gzip.compress(b"12345678 not safetensors")):
        with pytest.raises(PackError, match="not a packed population"):
            Population(data)


def test_narrow_checks_every_block_of_a_long_array(monkeypatch):
    import society.run.population as population

    monkeypatch.setattr(population, "BLOCK", 4)
    whole = np.arange(10, dtype=np.float64)
    assert narrow(whole).dtype == np.uint8
    late = whole.copy()
    late[9] = 0.1  # only the last block fails float32 and the integers
    assert narrow(late).dtype == np.float64
    signed_zero = whole.copy()
    signed_zero[6] = -0.0  # the second block: no integer keeps -0.0, float32 does
    assert narrow(signed_zero).dtype == np.float32
