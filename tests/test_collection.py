"""The cyclic collector is paused inside a round and runs once after it."""

import gc

import pytest

from society.sim.collection import collected_after


def test_the_collector_is_off_inside_and_collects_once_after():
    seen, collections = [], []

    def count(phase, info):
        if phase == "stop":
            collections.append(info["generation"])

    @collected_after
    def work():
        seen.append(gc.isenabled())
        a = []
        a.append(a)  # a cycle the collector must find afterwards
        return 7

    gc.callbacks.append(count)
    try:
        assert work() == 7
    finally:
        gc.callbacks.remove(count)
    assert seen == [False] and gc.isenabled()
    assert collections == [2]  # one full collection


def test_a_paused_collector_stays_paused_and_errors_reenable_it():
    @collected_after
    def inner():
        return gc.isenabled()

    gc.disable()
    try:
        assert inner() is False and not gc.isenabled()
    finally:
        gc.enable()

    @collected_after
    def fails():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fails()
    assert gc.isenabled()


def test_a_society_round_runs_with_the_collector_paused():
    from society.config import Scenario
    from society.sim.model import Society

    society = Society(Scenario(), network_agents=3, speech_utterances=2, rounds=1, seed=1)
    assert gc.isenabled()
    states = []
    original = society.learn
    society.learn = lambda: states.append(gc.isenabled()) or original()
    society.step()
    assert states == [False] and gc.isenabled()
