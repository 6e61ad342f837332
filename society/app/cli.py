"""The ``society`` command line (typer + rich)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from typer.core import TyperGroup

from society.app.extras import extra_message, missing_extra
from society.config import ConfigError, load_scenario
from society.run import layout
from society.run.garbage import fewer_collections


def _base(name: str) -> type[Exception]:
    """A base class of typer's usage errors by name (typer vendors its own click)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


ClickException, UsageError = _base("ClickException"), _base("UsageError")


class OneLineErrors(TyperGroup):
    """The command group; a usage error is one line ``error: ...`` with exit code 2.

    A bad option value, an unknown option or command, a missing argument: like every other
    bad input, one line and no usage box.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        kwargs["standalone_mode"] = False
        try:
            with fewer_collections():  # also while a command imports its stack (~0.3 s)
                code = super().main(*args, **kwargs)
        except typer.Abort:
            errors.print("error: aborted", markup=False, highlight=False)
            sys.exit(1)
        except ClickException as error:
            ctx = getattr(error, "ctx", None)
            if type(error).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help())
                sys.exit(2)
            message = " ".join(error.format_message().split())
            where = (
                f"{ctx.command_path}: " if ctx is not None and isinstance(error, UsageError) else ""
            )
            errors.print(f"error: {where}{message}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(error.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    help="society: language change in communities of language models that learn from each other.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario key: key.path=value (repeatable)."),
]


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit (code 2) to raise."""
    errors.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _run_progress(name: str, rounds: int):  # noqa: ANN202
    """A rich progress bar over rounds that shows the build (ancestor training) too."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    )
    task = progress.add_task(
        f"{name}: building (corpus, tokenizer, ancestor training)", total=rounds, status=""
    )
    last = {}

    def on_round(society) -> None:  # noqa: ANN001
        last["society"] = society
        row = society.latest
        status = f"ppl {row['perplexity']:.1f}  distinct-2 {row['distinct_2']:.3f}"
        progress.update(task, completed=society.round, description=name, status=status)

    def on_warning(message: str) -> None:
        progress.console.print(f"warning: {message}", markup=False, highlight=False)

    return progress, on_round, on_warning, last


@app.command()
def run(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario TOML file (not with --resume).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory (runs/<name>-<time>).")] = None,
    set_: SetOption = None,
    seed: Annotated[int | None, typer.Option(help="Replace the scenario's seed.")] = None,
    report: Annotated[bool, typer.Option(help="Also write RUN/report.html.")] = False,
    resume: Annotated[
        Path | None,
        typer.Option(metavar="RUN", help="Continue a killed or failed run from its last round."),
    ] = None,
) -> None:
    """Run a scenario and write its run directory (or --resume RUN).

    SIGTERM, SIGHUP and Ctrl-C stop the run after a safe point (manifest: failed, with the
    signal); `society run --resume RUN` continues it, with the same results as a run never
    stopped. Exit codes: 2 bad input (nothing written), 1 a write error, 128+N signal N.
    """
    from society.run.runner import RunError, RunStoppedError, resume_run, run_scenario, summary

    try:
        if resume is not None:
            if scenario is not None or out is not None or set_ or seed is not None:
                raise ConfigError("--resume RUN: give no scenario, --out, --set or --seed with it")
            from society.run.store import RunStore

            if not layout.is_run(resume) or not (resume / layout.MANIFEST).is_file():
                raise ConfigError(f"{resume}: not a run directory (no config.toml or manifest)")
            name, rounds = resume.name, int(RunStore(resume).manifest.get("rounds", 0))
        elif scenario is None:
            raise ConfigError("run: give a scenario file (or --resume RUN)")
        else:
            config = load_scenario(scenario, set_, seed)
            name, rounds = config.name, config.rounds
    except (ConfigError, OSError, ValueError) as error:
        message = str(error) if isinstance(error, ConfigError) else f"{resume}: not a run: {error}"
        raise fail(message) from None
    progress, on_round, on_warning, last = _run_progress(name, rounds)
    try:
        with progress:
            if resume is not None:
                path, config = resume_run(resume, on_round=on_round, on_warning=on_warning)
            else:
                path = run_scenario(
                    config, out, origin=str(scenario), on_round=on_round, on_warning=on_warning
                )
    except ConfigError as error:
        raise fail(str(error)) from None
    except RunError as error:
        errors.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    except RunStoppedError as error:
        errors.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code=128 + int(error.signum)) from None
    table = Table(title=f"{config.name}: round 0 -> round {config.rounds}")
    table.add_column("metric")
    table.add_column("round 0", justify="right")
    table.add_column(f"round {config.rounds}", justify="right")
    for metric, (first, final) in summary(last["society"]).items():
        table.add_row(metric, f"{first:.4g}", f"{final:.4g}")
    console.print(table)
    if resume is not None:
        start = (RunStore(path).manifest.get("resumed") or [{}])[-1]
        console.print(f"resumed from round {start.get('from_round')} ({start.get('from')})")
    console.print(f"run directory: {path}")
    if report:
        from analysis.report import write_report

        console.print(f"report: {write_report([str(path)], None, print_findings)}")


@app.command()
def validate(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario or experiment TOML files.")],
    set_: SetOption = None,
) -> None:
    """Check scenario and experiment files (and what they name); one line per file.

    A file with ``[conditions]`` or ``[hypotheses]`` is an experiment: its base scenario,
    ``[set]`` and every condition are checked as ``society experiment`` would. A local
    checkpoint or corpus this machine lacks does not fail validation (the structure is
    checked; the run's preflight refuses it): the line names it.
    """
    from society.app.experiment import is_experiment, load_experiment
    from society.run.preflight import missing_local_files, preflight

    bad = 0
    for path in scenarios:
        try:
            if is_experiment(path):
                experiment, base = load_experiment(path, set_, local_files=False)
                seeds = (
                    experiment.seeds if isinstance(experiment.seeds, int) else len(experiment.seeds)
                )
                line = (
                    f"experiment {experiment.name}: {len(experiment.conditions)} conditions x "
                    f"{seeds} seeds of {base.name}, {len(experiment.hypotheses)} hypotheses"
                )
                missing = missing_local_files(base)
            else:
                config = load_scenario(path, set_)
                missing = preflight(config, str(path), local_files=False).missing
                line = f"{config.name}, {config.rounds} rounds"
        except ConfigError as error:
            errors.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
            bad += 1
            continue
        if missing:
            line += f"; needs local files not here, checked at run time: {'; '.join(missing)}"
        console.print(f"ok: {path} ({line})", highlight=False, soft_wrap=True)
    if bad:
        raise typer.Exit(code=2)


@app.command()
def annotate(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="Run directory.")],
    round_: Annotated[int, typer.Option("--round", help="Round whose utterances to export.")],
    out: Annotated[Path, typer.Option(help="File to write: .csv, or .jsonl.")],
    count: Annotated[int | None, typer.Option(help="Export a random sample of N texts.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of that sample.")] = 0,
) -> None:
    """Export a round's utterances to label; point curation.labels at the labelled file."""
    from society.app.annotate import AnnotateError, export_for_labelling

    try:
        written = export_for_labelling(run_dir, round_, out, count=count, seed=seed)
    except AnnotateError as error:
        raise fail(str(error)) from None
    console.print(f"wrote {written} texts to {out}: fill the label column (yes/no)")


@app.command()
def viz(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: a free one).")] = 8765,
    set_: SetOption = None,
    seed: Annotated[int | None, typer.Option(help="Replace the scenario's seed.")] = None,
) -> None:
    """Watch a society live in the browser (Mesa SolaraViz, http://127.0.0.1:PORT)."""
    try:
        if not 0 <= port <= 65535:
            raise ConfigError(f"--port: {port} is not a TCP port (0..65535)")
        config = load_scenario(scenario, set_, seed)
        from society.app.dashboard.app import serve
        from society.run.preflight import preflight

        preflight(config, str(scenario))

        serve(config, port, origin=str(scenario))
    except ConfigError as error:
        raise fail(str(error)) from None


@app.command()
def talk(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (with checkpoints).")],
    agent: Annotated[int, typer.Option(help="Agent id.")],
    versus: Annotated[
        int | None,
        typer.Option(help="A second agent to answer beside the first (default: the ancestor)."),
    ] = None,
    round_: Annotated[
        int | None, typer.Option("--round", help="Checkpointed round (default: the last).")
    ] = None,
    prompt: Annotated[
        str | None, typer.Option(help="Text to continue (default: ask interactively).")
    ] = None,
    samples: Annotated[int, typer.Option(min=1, help="Continuations per model.")] = 3,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Default: the run's.")] = None,
    temperature: Annotated[float | None, typer.Option(min=0.01, help="Default: the run's.")] = None,
    seed: Annotated[int, typer.Option(help="Seeds the sampling.")] = 0,
) -> None:
    """Continue a prompt with an evolved agent, beside the ancestor's (or another agent's)."""
    from society.app.talk import open_conversation, prompts_from, reply_table
    from society.run.checkpoints import CheckpointError

    try:
        conversation = open_conversation(run_dir, agent, round_, versus)
    except (CheckpointError, ConfigError) as error:
        raise fail(str(error)) from None
    if prompt is None:
        console.print(
            f"talking to agent {agent} (round {conversation.round}) and "
            f"{'the ancestor' if versus is None else f'agent {versus}'}; "
            "empty line: free speech; quit or Ctrl-D: end",
            highlight=False,
        )
        prompts = prompts_from(lambda: console.input("prompt> "))
    else:
        prompts = iter([prompt])
    for text in prompts:
        replies = conversation.reply(
            text, samples=samples, seed=seed, max_tokens=max_tokens, temperature=temperature
        )
        console.print(reply_table(text, replies))


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (with checkpoints).")],
    out: Annotated[Path, typer.Argument(help="New model directory.")],
    agent: Annotated[
        int | None, typer.Option(help="Agent id (default: the generation-0 ancestor).")
    ] = None,
    round_: Annotated[
        int | None, typer.Option("--round", help="Checkpointed round (default: the last).")
    ] = None,
) -> None:
    """Write one agent as a directory that plain transformers loads (AutoModelForCausalLM)."""
    from society.app.export import ExportError, export_agent

    try:
        path = export_agent(run_dir, agent, out, round_)
    except (ExportError, ConfigError) as error:
        raise fail(str(error)) from None
    console.print(f"exported {'ancestor' if agent is None else f'agent {agent}'} to {path}")


@app.command()
def bench(
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the results here.")
    ] = None,
    quick: Annotated[bool, typer.Option(help="Smaller workloads (a rough check).")] = False,
    threads: Annotated[int, typer.Option(min=0, help="torch CPU threads (0: default).")] = 0,
    device: Annotated[
        str, typer.Option(help="cpu (every item) or cuda (the GPU items, on the GPU).")
    ] = "cpu",
    only: Annotated[
        str | None, typer.Option(help="Comma-separated items, e.g. lora_population,sampling.")
    ] = None,
    agents: Annotated[
        str | None,
        typer.Option(help="n-gram society sizes, e.g. 1000,10000 (default 10,100,1000)."),
    ] = None,
    scenario: Annotated[
        Path | None,
        typer.Option(help="Scenario of the whole_run item (default: 1,000 n-gram agents)."),
    ] = None,
    baseline_python: Annotated[
        str | None, typer.Option(help="Interpreter of a baseline whole_run, side by side.")
    ] = None,
    baseline_script: Annotated[
        str | None,
        typer.Option(help="The baseline's entry script (default: -m society), e.g. a shim."),
    ] = None,
    pairs: Annotated[
        int,
        typer.Option(min=1, help="whole_run: runs of each side, alternating; medians quoted."),
    ] = 1,
    scale: Annotated[
        int,
        typer.Option(
            min=0, help="whole_run: also time the default scenario with this many agents."
        ),
    ] = 0,
) -> None:
    """Measure this machine: matmul, training, sampling, rounds, memory, measures, LoRA."""
    from society.app.bench import BenchError, print_results, run_bench

    items = [name.strip() for name in only.split(",") if name.strip()] if only else None
    try:
        sizes = tuple(int(n) for n in agents.split(",") if n.strip()) if agents else None
    except ValueError:
        raise fail(f"--agents: {agents!r} is not a comma-separated list of numbers") from None
    if sizes is not None and (not sizes or min(sizes) < 2):
        raise fail(f"--agents: {agents!r}: give sizes of at least 2 agents")
    if scenario is not None and not scenario.is_file():
        raise fail(f"--scenario: {scenario}: no such file")
    if baseline_script is not None and baseline_python is None:
        raise fail("--baseline-script: needs --baseline-python")
    try:
        results = run_bench(
            quick=quick,
            threads=threads,
            console=console,
            device=device,
            only=items,
            agents=sizes,
            scenario=scenario,
            baseline_python=baseline_python,
            baseline_script=baseline_script,
            pairs=pairs,
            scale=scale or None,
        )
    except BenchError as error:
        raise fail(str(error)) from None
    print_results(results, console)
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=2))
        console.print(f"wrote {json_out}")


WorkersOption = Annotated[
    int | None, typer.Option(min=1, help="Local worker processes (default: CPU count).")
]
SchedulerOption = Annotated[
    str | None, typer.Option(help="dask.distributed scheduler address (instead of local).")
]


def _sweep_progress(label: str):  # noqa: ANN202
    """A rich progress bar over runs and the (on_start, on_result) callbacks feeding it."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    )
    task = progress.add_task(label, total=None, status="")
    failed: list[str] = []

    def on_start(todo: int, skipped: int) -> None:
        progress.update(task, total=todo, status=f"{skipped} already done" if skipped else "")

    def on_result(row: dict) -> None:
        if row["status"] != layout.DONE:
            failed.append(row["path"])
        progress.update(task, advance=1, status=f"{len(failed)} failed" if failed else "")

    return progress, on_start, on_result


def _report_runs(index) -> int:  # noqa: ANN001
    """Print reruns and failures of a sweep index; return the number of failed runs."""
    rerun = [layout.FAILED, layout.RUNNING, "broken"]
    for row in index[index["previous"].isin(rerun)].itertuples():
        console.print(
            f"rerun: {row.path} (was {row.previous}) -> {row.status}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    bad = index[index["status"] != layout.DONE]
    for row in bad.itertuples():
        errors.print(
            f"failed: {row.path}: {row.error}", markup=False, highlight=False, soft_wrap=True
        )
    done = int((index["status"] == layout.DONE).sum())
    console.print(f"{done}/{len(index)} runs done, {len(bad)} failed", highlight=False)
    return len(bad)


@app.command()
def sweep(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    out: Annotated[Path, typer.Option(help="Sweep directory (rerun to resume).")],
    grid: Annotated[
        list[str] | None,
        typer.Option(
            help="key.path=v1,v2 or start:stop:step (stop included); repeatable; all combinations."
        ),
    ] = None,
    link: Annotated[
        list[str] | None,
        typer.Option(
            help="'a=1,2,3 b=x,y,z': keys that vary together (repeatable; each group is "
            "crossed with the grid)."
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per cell: seed, seed+1, ...")] = 1,
    set_: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Run a scenario over a grid of values x seeds; one run directory each."""
    from society.app.sweep import grid_cells, parse_grid, parse_links, plan, run_sweep

    try:
        config = load_scenario(scenario, set_)
        cells = grid_cells(parse_grid(grid or []), parse_links(link or []))
        specs = plan(config, cells, seeds, out, str(scenario))
        progress, on_start, on_result = _sweep_progress(config.name)
        with progress:
            index = run_sweep(
                specs, out, workers=workers, scheduler=scheduler,
                on_start=on_start, on_result=on_result,
            )  # fmt: skip
    except ConfigError as error:
        raise fail(str(error)) from None
    failed = _report_runs(index)
    console.print(
        f"index: {out / layout.SWEEP_INDEX}", markup=False, highlight=False, soft_wrap=True
    )
    if failed:
        raise typer.Exit(code=1)


@app.command()
def experiment(
    file: Annotated[Path, typer.Argument(help="Experiment TOML file.")],
    out: Annotated[Path, typer.Option(help="Output directory (rerun to resume).")],
    seeds: Annotated[int | None, typer.Option(min=2, help="Replace the file's seeds.")] = None,
    set_: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Run an experiment file; write verdict.md, results.parquet and figure.png."""
    from society.app.experiment import load_experiment, run_experiment, summary_rows

    try:
        load_experiment(file, set_, seeds)  # bad input: one line before any progress bar
        progress, on_start, on_result = _sweep_progress(file.stem)
        with progress:
            results = run_experiment(
                file, out, overrides=set_, seeds=seeds, workers=workers,
                scheduler=scheduler, on_start=on_start, on_result=on_result,
            )  # fmt: skip
    except ConfigError as error:
        raise fail(str(error)) from None
    table = Table(title=f"{file.stem}: Holm-adjusted across {len(results)} hypotheses")
    for name in (
        "hypothesis",
        "delta (or rho)",
        "mean diff (or slope)",
        "p",
        "p (Holm)",
        "verdict",
    ):
        table.add_column(name, justify="left" if name == "hypothesis" else "right")
    for row in summary_rows(results):
        table.add_row(*row)
    console.print(table)
    import pandas as pd

    failed = _report_runs(pd.read_parquet(out / layout.SWEEP_INDEX))
    console.print(f"verdict: {out / layout.VERDICT}", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(code=1)


def print_findings(items: list[Any]) -> None:
    """The report's Findings, condition by condition, as plain lines."""
    conditions = list(dict.fromkeys(item.condition for item in items))
    console.print("Findings", style="bold")
    for condition in conditions:
        if len(conditions) > 1:
            console.print(f"{condition}:", markup=False, highlight=False)
        for item in items:
            if item.condition == condition:
                text = f"  {item.topic.capitalize()}. {item.text}"
                console.print(text, markup=False, highlight=False)


@app.command()
def report(
    runs: Annotated[list[str], typer.Argument(help="Run directories or glob patterns.")],
    out: Annotated[
        Path | None,
        typer.Option(help="HTML file (default: RUN/report.html, or ./report.html for many)."),
    ] = None,
) -> None:
    """Write one self-contained HTML report (figures embedded, opens offline); print Findings."""
    from analysis.report import write_report
    from analysis.runs import RunError

    try:
        path = write_report(runs, out, print_findings)
    except (RunError, OSError) as error:
        raise fail(str(error)) from None
    console.print(f"report: {path}")


def main(prog_name: str | None = None) -> None:
    """The ``society`` program: the command line, then an exit without teardown (``leave``)."""
    from society.app.leave import leave

    try:
        app(prog_name=prog_name)
    except SystemExit as stop:
        leave(stop.code)
    leave(0)


if __name__ == "__main__":
    main()


def needs_extras(command: str, callback: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so that a missing optional package is one line naming its extra."""

    @functools.wraps(callback)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except ImportError as error:
            missing = missing_extra(error)
            if missing is None:
                raise
            raise fail(extra_message(command, *missing)) from None

    return guarded


for _command in app.registered_commands:
    _command.callback = needs_extras(_command.name or _command.callback.__name__, _command.callback)
