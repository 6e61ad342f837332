"""The side process: the classifier, self-BLEU, the dialect test and relabelling nulls
computed in a second process."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from society.config import MetricsConfig
from society.corpora import Corpus
from society.metrics.measures.expensive import RealVsGenerated, SelfBleu, accuracies, self_bleus
from society.metrics.registry import Registry, Results
from society.metrics.side import SideProcess
from society.metrics.suite import SIDE_PROCESS_AGENTS, build_suite
from society.run import layout
from society.run.runner import run_scenario
from tests.records import Flat, agent, record, setup

REAL = [f"the cat sat on the mat {i} and the dog lay by the door" for i in range(40)]
FAKE = [f"the cat sat by the door {i} and the mat lay on the dog" for i in range(40)]
DOCS = tuple(tuple(t.split()) for t in FAKE)


@pytest.fixture
def side():
    process = SideProcess()
    yield process
    process.close()


def test_the_worker_computes_what_this_process_computes_bit_for_bit(side):
    jobs = [(DOCS, [0, 3, 7]), (DOCS[5:], [1, 2])]
    assert side.submit(self_bleus, jobs, takeable=False).result() == self_bleus(jobs)
    groups = [FAKE, FAKE[::-1]]
    there = side.submit(accuracies, groups, tuple(REAL), 3, takeable=False)
    assert there.result() == accuracies(groups, tuple(REAL), 3)


def test_work_runs_in_another_process_unless_disabled(side):
    assert side.submit(os.getpid, takeable=False).result() != os.getpid()
    assert SideProcess(enabled=False).submit(os.getpid).result() == os.getpid()


def test_an_error_in_the_worker_is_raised_by_result(side):
    job = side.submit(int, "not a number")
    with pytest.raises(ValueError, match="invalid literal"):
        job.result()


def test_a_dead_worker_leaves_the_work_to_this_process(side):
    side.start()
    worker = side.submit(os.getpid, takeable=False).result()
    assert worker != os.getpid()
    os.kill(worker, 9)
    assert side.submit(os.getpid, takeable=False).result() == os.getpid()  # computed here
    assert not side.enabled
    assert side.submit(os.getpid).result() == os.getpid()


def test_the_side_process_pickles_without_its_worker(side):
    side.start()
    copy = pickle.loads(pickle.dumps(side))
    assert copy.enabled and copy._pool is None


def test_a_script_without_a_main_guard_is_not_run_again_by_the_worker(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            print("ran", flush=True)
            from society.metrics.side import SideProcess
            side = SideProcess()
            assert side.submit(os.getpid, takeable=False).result() != os.getpid()
            side.close()
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ran"]


def _enabled_in_daemon(queue) -> None:
    side = SideProcess()
    side.start()
    queue.put(side.enabled)


def test_a_daemonic_process_computes_here():
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_enabled_in_daemon, args=(queue,), daemon=True)
    child.start()
    assert queue.get(timeout=60) is False
    child.join(timeout=60)


def test_prepared_measures_give_the_rows_measured_here():
    agents = [agent(i, FAKE[i : i + 20]) for i in range(6)]
    rec = record(agents, round_=0)
    config = {"classifier_agents": 3, "self_bleu_agents": 4, "self_bleu_texts": 5}
    here = setup(heldout=REAL, **config)
    there = setup(heldout=REAL, **config)
    object.__setattr__(there, "side", SideProcess())
    try:
        for cls in (SelfBleu, RealVsGenerated):
            direct = cls(here).measure(rec, Results(rec))
            prepared = cls(there)
            prepared.prepare(rec)
            assert prepared._job is not None and prepared._job[1] is not None
            rows = prepared.measure(rec, Results(rec))
            assert pd.DataFrame(rows.agent).equals(pd.DataFrame(direct.agent))
            assert prepared._job is None  # nothing from the round is kept
    finally:
        there.side.close()


def test_the_registry_prepares_every_measure_before_measuring():
    calls = []

    class Recorder(SelfBleu):
        def prepare(self, rec):
            calls.append("prepare")
            super().prepare(rec)

        def measure(self, rec, before):
            calls.append("measure")
            return super().measure(rec, before)

    class Second(Recorder):
        name = "second"
        columns = type(SelfBleu.columns)(agent=("second",))

        def finish(self, rec, value):
            rows = super().finish(rec, value)
            return type(rows)(agent=[{"second": r["self_bleu"]} for r in rows.agent])

    rec = record([agent(1, FAKE)], round_=0)
    Registry(setup(), [Recorder, Second]).measure(rec)
    assert calls == ["prepare", "prepare", "measure", "measure"]

    class Scorer(Second):  # scores with every model: its kernels would meet the worker's
        name = "scorer"
        columns = type(SelfBleu.columns)(agent=("scorer",))
        scores_every_model = True

        def finish(self, rec, value):
            rows = SelfBleu.finish(self, rec, value)
            return type(rows)(agent=[{"scorer": r["self_bleu"]} for r in rows.agent])

    calls.clear()
    Registry(setup(), [Scorer, Recorder]).measure(rec)
    assert calls == ["measure", "prepare", "measure"]  # the scorer measured before: not sent


@pytest.mark.parametrize(
    ("agents", "enabled"), [(99, False), (100, True), (4999, True), (5000, False), (10**4, False)]
)
def test_unset_the_side_process_is_used_from_100_to_4999_agents(agents, enabled):
    assert SIDE_PROCESS_AGENTS == (100, 5000)
    corpus = Corpus(name="tiny", train=REAL, heldout=REAL)
    suite = build_suite(MetricsConfig(), corpus, Flat(2.0), 0, agents)
    try:
        assert suite.setup.side.enabled is enabled
    finally:
        suite.close()


def test_a_run_with_the_side_process_writes_the_same_tables_and_leaves_no_process(tmp_path, small):
    sets = {
        "rounds": 2,
        "metrics.expensive_every": 1,
        "metrics.classifier_agents": 3,
        "metrics.self_bleu_agents": 4,
        "metrics.dialect_null": 19,
        "metrics.dialect_alpha": 0.1,
        "metrics.dialect_agents": 4,  # a sample: its own relabelling null
        "metrics.divergence_null_budget": 8,  # 15 pairs: a sample relabelled, the rest fitted
    }
    on = run_scenario(small.with_overrides({**sets, "metrics.side_process": True}), tmp_path / "on")
    assert multiprocessing.active_children() == []
    off = run_scenario(
        small.with_overrides({**sets, "metrics.side_process": False}), tmp_path / "off"
    )
    agents = pd.read_parquet(layout.table(on, "agents"))
    assert agents["real_vs_generated"].notna().sum() == 9  # 3 agents, rounds 0-2
    assert agents["self_bleu"].notna().sum() == 12
    assert pd.read_parquet(layout.table(on, "rounds"))["dialect_p"].notna().all()
    assert pd.read_parquet(layout.table(on, "pairs"))["jsd_bigram_excess"].notna().all()
    for name in layout.TABLES:
        pd.testing.assert_frame_equal(
            pd.read_parquet(layout.table(on, name)),
            pd.read_parquet(layout.table(off, name)),
            check_exact=True,
        )


def test_the_dialect_test_sent_to_the_side_process_is_the_one_measured(tmp_path, small):
    from society.metrics.measures import dialect
    from society.sim.model import Society

    society = Society(small.with_overrides({"metrics.side_process": True}))
    try:
        record = society.round_record()
        measure = next(m for m in society.measures if m.name == "dialects")
        measure.prepare(record)
        _, sample, job = measure._test
        assert job.result() == dialect.dialect_p(*measure.test_call(record, sample, 1))
        before = society.measures.measure(record)  # prepares again, then measures
        assert measure._test is None
        assert before.round["dialect_p"] == dialect.dialect_p(
            *measure.test_call(record, measure.sample(record), 1)
        )
    finally:
        society.close()


def test_the_worker_ends_when_its_process_is_killed(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            from society.metrics.side import SideProcess
            side = SideProcess()
            print(side.submit(os.getpid, takeable=False).result(), flush=True)
            os._exit(0)  # as if killed: nothing stops the worker
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    worker = int(out.stdout)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and os.path.exists(f"/proc/{worker}"):
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{worker}")


def test_the_relabellings_sent_are_the_ones_measured(small):
    from dataclasses import replace

    from society.metrics.measures.pairs import PairDivergence
    from society.sim.model import Society

    scenario = small.with_overrides(
        {"metrics.side_process": True, "metrics.divergence_null_budget": 8}
    )
    society = Society(scenario)
    try:
        record = society.round_record()
        jsd = next(m for m in society.measures if m.name == "jsd")
        jsd.prepare(record)
        _, plan, job = jsd._null
        assert plan.chosen is not None and job is not None  # 15 pairs, 8 relabelled
        sent = jsd.measure(record, Results(record)).pair
        here = PairDivergence(replace(jsd.setup, side=SideProcess(enabled=False)))
        assert sent.equals(here.measure(record, Results(record)).pair)
        assert sent["jsd_unigram_excess"].notna().all()
    finally:
        society.close()


def test_work_the_worker_has_not_started_is_computed_here(side):
    busy = side.submit(time.sleep, 3)
    queued = [side.submit(os.getpid) for _ in range(4)]
    pids = [job.result() for job in queued]
    assert pids[-1] == os.getpid()  # still waiting behind the sleep: taken back
    busy.result()
    assert side.submit(os.getpid, takeable=False).result() != os.getpid()  # it goes on


def test_while_waiting_this_process_computes_the_calls_queued_behind(side):
    busy = side.submit(time.sleep, 2)
    deadline = time.monotonic() + 60
    while not busy.future.running() and time.monotonic() < deadline:  # the worker has it
        time.sleep(0.01)
    kept_there = side.submit(os.getpid, takeable=False)
    queued = [side.submit(os.getpid) for _ in range(3)]
    busy.result()
    assert all(job.future.done() for job in queued)  # taken from the end while waiting
    assert [job.result() for job in queued] == [os.getpid()] * 3
    assert kept_there.result() != os.getpid()  # not takeable: left to the worker
