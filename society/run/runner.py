"""Run a scenario into a run directory: build the Society, step it, stream rounds to disk."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import socket
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from society.config import ConfigError, Scenario, load_scenario
from society.corpora import Corpus, CorpusError
from society.lm.errors import ModelError
from society.run import layout
from society.run.checkpoints import checkpoint_if_due
from society.run.garbage import fewer_collections
from society.run.preflight import check_out as preflight_out
from society.run.preflight import preflight
from society.run.signals import Stopped, critical, stop_on_signals
from society.run.state import (
    StateError,
    read_header,
    remove_state,
    restore,
    save_state,
    state_interval,
)
from society.run.store import (
    RunStore,
    atomic_write_text,
    complete_lines,
    gzip_samples,
    now,
    remove_temporary,
)
from society.sim.curation import LabelsError
from society.sim.events import EventError
from society.sim.model import Society
from society.sim.network import GraphError

Progress = Callable[[Society], None]

#: Round measures that every measured round has: NaN in one of them is worth a warning.
ALWAYS_MEASURED = ("perplexity", "entropy", "distinct_1", "distinct_2", "ttr", "mean_length")


def default_out(scenario: Scenario, root: Path = Path("runs")) -> Path:
    """``runs/<scenario-name>-<timestamp>``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario.name).strip("-") or "run"
    return root / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


class RunError(RuntimeError):
    """A run that could not go on (a write error, a full disk); one line naming the run."""


class RunStoppedError(RuntimeError):
    """A run stopped by a signal; ``signum`` gives the exit code (128 + signum)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


def build_society(
    scenario: Scenario, origin: str = "<scenario>", corpus: Corpus | None = None
) -> Society:
    """Build the Society, turning bad data or graph input into a one-line ConfigError."""
    try:
        return Society(scenario, corpus=corpus)
    except CorpusError as error:
        field = getattr(error, "field", "real_data.source")  # or real_data.communities.N
        raise ConfigError(f"{origin}: {field}: {error}") from None
    except GraphError as error:
        field = "network.path" if scenario.network.kind == "file" else "network"
        raise ConfigError(f"{origin}: {field}: {error}") from None
    except LabelsError as error:
        raise ConfigError(f"{origin}: curation.labels: {error}") from None
    except ModelError as error:
        raise ConfigError(f"{origin}: language_model: {error}") from None


def check_out(out: Path) -> None:
    """Refuse a run directory that is a file, non-empty, or under an unwritable folder."""
    preflight_out(out)


def round_warnings(society: Society) -> list[str]:
    """Legal but suspicious things about the round just finished (kept nothing, NaN)."""
    out = []
    if society.round > 0:
        heard = sum(len(agent.heard) for agent in society.agents)
        kept = sum(len(agent.kept) for agent in society.agents)
        if heard and not kept:
            out.append(f"round {society.round}: curation kept none of {heard} texts heard")
    if society.latest and society.measured is not None:
        nan = [
            name
            for name in ALWAYS_MEASURED
            if isinstance(society.latest.get(name), float) and math.isnan(society.latest[name])
        ]
        if nan and society.round == society.measured.measured_round:
            out.append(f"round {society.round}: NaN in {', '.join(nan[:5])}")
    return out


def write_round(
    store: RunStore, society: Society, samples: bool = True, tables: bool = True
) -> None:
    """Stream the society's tables and new samples to the run directory (all or nothing).

    ``tables=False`` when they were written since the last round (the run's final samples).
    """
    with critical():
        if tables:
            store.write_tables(
                {
                    "rounds": society.round_table(),
                    "agents": society.agent_table(),
                    "pairs": society.pair_table(),
                    **society.measures.tables(),  # side tables: innovations, expressions
                }
            )
        if society.scenario.metrics.samples and samples:
            store.append_samples(society.pop_samples())
        elif samples:
            society.pop_samples()
        store.write_json(layout.EVENTS, society.event_log)
        store.write_graph(society.graph)
        store.update_manifest(rounds_done=society.round, heartbeat=now())


class _Loop:
    """Steps a society into its store; ``start`` rounds are replayed without writing.

    After every ``checkpoints.state_every`` rounds (unset: by the society's size,
    ``run.state.state_interval``) the resume state (``run.state``) is saved, but never after
    round 0 (a rebuild gives it) nor the last; a society restored from it (``resumed``)
    starts writing at its own round.
    """

    def __init__(
        self,
        store: RunStore,
        society: Society,
        on_round: Progress | None,
        on_warning: Callable[[str], None] | None,
        start: int = 0,
        resumed: bool = False,
    ) -> None:
        self.store, self.society, self.start = store, society, start
        self.on_round, self.on_warning = on_round, on_warning
        self.replayed: list[dict[str, Any]] = []  # samples of replayed rounds
        self.skip_state = society.round if resumed else None  # the state on disk is this round

    def warn(self, messages: list[str]) -> None:
        for message in messages:
            known = self.store.manifest.get("warnings") or []
            if message in known:  # a resumed run recomputing rounds it had done
                continue
            self.store.update_manifest(warnings=[*known, message])
            if self.on_warning:
                self.on_warning(message)

    def save_state(self) -> None:
        society, out = self.society, self.store.path
        every = state_interval(society.scenario.checkpoints.state_every, len(society.agents))
        if not every or society.round % every or not 0 < society.round < society.rounds:
            return  # round 0 is what a rebuild gives: a state there would save no work
        if society.round == self.skip_state or self.skip_state == -1:
            return
        samples = self.store.samples
        try:
            with critical():
                save_state(out, society, samples.stat().st_size if samples.exists() else 0)
        except StateError as error:  # never fail a run for its resume state
            self.skip_state = -1
            self.warn([f"round {society.round}: resume state not saved ({error})"])

    def after_round(self) -> None:
        society, out = self.society, self.store.path
        if society.round < self.start:  # replay: the disk already holds this round
            self.replayed.extend(society.pop_samples())
        elif society.round == self.start and self.start:
            samples = [*self.replayed, *society.pop_samples()]
            with critical():
                if society.scenario.metrics.samples:
                    self.store.rewrite_samples(samples)
                write_round(self.store, society, samples=False)
            checkpoint_if_due(out, society)
            self.save_state()
        else:
            write_round(self.store, society)
            self.warn(round_warnings(society))
            with critical():
                checkpoint_if_due(out, society)
            self.save_state()
        if self.on_round:
            self.on_round(society)

    def run(self) -> None:
        society = self.society
        self.after_round()
        for _ in range(society.round, society.rounds):
            society.step()
            self.after_round()
        society.log_samples(final=True)
        write_round(self.store, society, tables=False)  # the last round's are written
        if not society.scenario.checkpoints.keep_state:
            remove_state(self.store.path)


def _fail(store: RunStore, error: BaseException, **fields: Any) -> None:
    """Mark the manifest failed when space allows; remove temporary files."""
    try:
        remove_temporary(store.path)
        store.update_manifest(
            status=layout.FAILED,
            finished=now(),
            error=traceback.format_exception_only(error)[-1].strip(),
            **fields,
        )
    except OSError:
        remove_temporary(store.path)


def _drive(store: RunStore, build: Callable[[], Society], origin: str, loop: Callable) -> Society:
    """Build and run under signal handling, turning stops and write errors into one line."""
    society = None
    try:
        with stop_on_signals(), fewer_collections():
            society = build()
            loop(society)
            store.update_manifest(status=layout.DONE, finished=now(), heartbeat=now())
    except Stopped as stop:
        _fail(store, stop, signal=stop.name)
        at = f" after round {society.round}" if society is not None else " while building"
        raise RunStoppedError(f"{store.path}: stopped by {stop.name}{at}", stop.signum) from None
    except KeyboardInterrupt as stop:
        _fail(store, stop, signal="SIGINT")
        raise RunStoppedError(f"{store.path}: interrupted (SIGINT)", signal.SIGINT) from None
    except OSError as error:
        _fail(store, error)
        raise RunError(f"{store.path}: cannot write: {_one_line(error)}") from None
    except BaseException as error:
        _fail(store, error)
        if isinstance(error, EventError):  # an event that does not fit the society
            raise ConfigError(f"{origin}: {error}") from None
        raise
    finally:
        if society is not None:
            society.close()
    return society


def _one_line(error: OSError) -> str:
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror or error}{where}"


def run_scenario(
    scenario: Scenario,
    out: Path | None = None,
    *,
    origin: str = "<scenario>",
    on_round: Progress | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Path:
    """Run ``scenario`` for its rounds and write the run directory.

    Everything checkable is checked first (``society.run.preflight``), so bad input leaves no
    directory; the directory and its ``running`` manifest are then written before the
    ancestor trains. SIGTERM, SIGHUP and SIGINT stop the run at a safe point.

    Args:
        scenario: a validated scenario.
        out: the run directory (default ``runs/<name>-<timestamp>``).
        origin: the scenario file, for error messages.
        on_round: called after round 0 and after every round (progress bars, dashboards).
        on_warning: called with each warning (also kept in the manifest's ``warnings``).

    Returns:
        The run directory.

    Raises:
        ConfigError: bad input (nothing written).
        RunError: a write failed (the manifest says ``failed`` when space allows).
        RunStoppedError: a signal stopped the run (the manifest says ``failed`` and the signal).
    """
    out = Path(out) if out is not None else default_out(scenario)
    checked = preflight(scenario, origin, out)
    for message in checked.warnings:
        if on_warning:
            on_warning(message)
    created = not out.exists()
    try:
        store = RunStore.create(out, scenario, warnings=checked.warnings)
    except OSError as error:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise RunError(f"{out}: cannot write: {_one_line(error)}") from None

    def build() -> Society:
        try:
            society = build_society(scenario, origin, checked.sources.main)
        except ConfigError:
            shutil.rmtree(out, ignore_errors=True)  # bad input found late: still nothing written
            raise
        store.samples = layout.samples(
            out, gzip_samples(scenario.metrics.samples_gzip, len(society.agents))
        )
        with critical():
            atomic_write_text(out / layout.TOKENIZER, society.tokenizer.to_str())
            store.update_manifest(real_data=society.sources.manifest(scenario.real_data))
        return society

    _drive(store, build, origin, lambda s: _Loop(store, s, on_round, on_warning).run())
    return out


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resume_run(
    run_dir: Path,
    *,
    on_round: Progress | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> tuple[Path, Scenario]:
    """Continue a killed or failed run from its last saved round.

    The society is rebuilt from the run's ``config.toml`` (which gives back the corpora,
    tokenizer and ancestors) and restored from the resume state ``RUN/state.pkl.gz``
    (``society.run.state``): the round it was saved after, every model, buffer, random
    stream, event and measure state. ``samples.jsonl`` is cut back to that round and the
    tables are rewritten from it, then the run goes on as if never stopped, so the finished
    tables and samples are identical to an uninterrupted run's. Without a usable state
    (``checkpoints.state_every = 0``, killed before the first save, another version) the
    society is replayed from round 0 without writing up to the last round on disk.
    The manifest's ``resumed`` list records each resume: ``from_round`` and ``from``
    (``state`` or ``replay``).

    Args:
        run_dir: the run directory.
        on_round: progress callback, as in :func:`run_scenario`.
        on_warning: warning callback, as in :func:`run_scenario`.

    Returns:
        The run directory and its scenario.

    Raises:
        ConfigError: not a run directory, already done, or still running.
    """
    run_dir = Path(run_dir)
    if not layout.is_run(run_dir) or not (run_dir / layout.MANIFEST).is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no {layout.CONFIG} or manifest)")
    try:
        store = RunStore(run_dir)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{run_dir}: {layout.MANIFEST}: unreadable: {error}") from None
    manifest = store.manifest
    if manifest.get("status") == layout.DONE:
        raise ConfigError(f"{run_dir}: status: the run is already done")
    if (
        manifest.get("status") == layout.RUNNING
        and manifest.get("host") == socket.gethostname()
        and _alive(manifest.get("pid"))
    ):
        raise ConfigError(f"{run_dir}: status: still running (pid {manifest['pid']})")
    origin = str(run_dir / layout.CONFIG)
    scenario = load_scenario(run_dir / layout.CONFIG)
    checked = preflight(scenario, origin)
    samples = layout.samples(run_dir)  # samples.jsonl.gz when the run holds it
    header = read_header(run_dir) if (run_dir / layout.TOKENIZER).is_file() else None
    unused = f"{layout.STATE} unreadable"
    if header is not None and (samples.stat().st_size if samples.exists() else 0) < (
        header.samples_bytes
    ):
        header, unused = None, f"{layout.SAMPLES} ends before it"  # cannot be trusted
    if header is None and (run_dir / layout.STATE).exists() and on_warning:
        on_warning(f"resume state not used ({unused}); replaying from round 0")
    replay = int(manifest.get("rounds_done") or 0)
    if not (run_dir / layout.TOKENIZER).is_file():
        replay = 0  # killed while building: nothing of the rounds is on disk
    remove_temporary(run_dir)
    store.update_manifest(
        status=layout.RUNNING,
        pid=os.getpid(),
        host=socket.gethostname(),
        heartbeat=now(),
        finished=None,
        error=None,
        signal=None,
    )
    plan: dict[str, Any] = {}

    def record(start: int, source: str) -> None:
        entry = {"at": now(), "from_round": start, "from": source}
        store.update_manifest(resumed=[*manifest.get("resumed", []), entry])
        plan.update(start=start, resumed=source == "state")

    def build() -> Society:
        society = build_society(scenario, origin, checked.sources.main)
        store.samples = (
            samples
            if samples.exists()
            else layout.samples(
                run_dir, gzip_samples(scenario.metrics.samples_gzip, len(society.agents))
            )
        )
        with critical():
            atomic_write_text(run_dir / layout.TOKENIZER, society.tokenizer.to_str())
        if header is not None:
            try:
                restored = restore(run_dir, society)
            except (StateError, OSError) as error:
                if on_warning:
                    on_warning(f"resume state not used ({error}); replaying from round 0")
            else:
                with critical():
                    if samples.exists():
                        with open(samples, "r+b") as handle:
                            handle.truncate(header.samples_bytes)
                record(restored.round, "state")
                return restored
        if replay == 0:
            samples.unlink(missing_ok=True)  # written again from round 0
        if not samples.name.endswith(layout.GZIP):  # a gzip file is rewritten whole at ``replay``
            complete_lines(samples)
        record(replay, "replay")
        return society

    def loop(society: Society) -> None:
        if plan["resumed"]:
            _Loop(store, society, on_round, on_warning, resumed=True).run()
        else:
            _Loop(store, society, on_round, on_warning, plan["start"]).run()

    _drive(store, build, origin, loop)
    return run_dir, scenario


def summary(society: Society) -> dict[str, Any]:
    """The first and last measured rounds of the headline metrics."""
    table = society.round_table()
    first, last = table.iloc[0], table.iloc[-1]
    names = ("perplexity", "distinct_2", "entropy", "vocab_size", "jsd_unigram_between")
    return {
        name: (float(first[name]), float(last[name]))
        for name in names
        if name in table and not (pd.isna(first[name]) and pd.isna(last[name]))
    }
