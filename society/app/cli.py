"""The ``society`` command line (typer + rich)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from society.config import ConfigError, load_scenario
from society.run import layout

app = typer.Typer(
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


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    out: Annotated[Path | None, typer.Option(help="Run directory (runs/<name>-<time>).")] = None,
    set_: SetOption = None,
    seed: Annotated[int | None, typer.Option(help="Replace the scenario's seed.")] = None,
    report: Annotated[bool, typer.Option(help="Also write RUN/report.html.")] = False,
) -> None:
    """Run a scenario and write its run directory."""
    from society.run.runner import run_scenario, summary

    try:
        config = load_scenario(scenario, set_, seed)
    except ConfigError as error:
        raise fail(str(error)) from None
    last = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(f"{config.name} (building)", total=config.rounds, status="")

        def on_round(society) -> None:  # noqa: ANN001
            last["society"] = society
            row = society.latest
            status = f"ppl {row['perplexity']:.1f}  distinct-2 {row['distinct_2']:.3f}"
            progress.update(task, completed=society.round, description=config.name, status=status)

        try:
            path = run_scenario(config, out, origin=str(scenario), on_round=on_round)
        except ConfigError as error:
            raise fail(str(error)) from None
    table = Table(title=f"{config.name}: round 0 -> round {config.rounds}")
    table.add_column("metric")
    table.add_column("round 0", justify="right")
    table.add_column(f"round {config.rounds}", justify="right")
    for name, (first, final) in summary(last["society"]).items():
        table.add_row(name, f"{first:.4g}", f"{final:.4g}")
    console.print(table)
    console.print(f"run directory: {path}")
    if report:
        from analysis.report import write_report

        console.print(f"report: {write_report([str(path)], None)}")


@app.command()
def validate(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario or experiment TOML files.")],
    set_: SetOption = None,
) -> None:
    """Check scenario and experiment files; print one line per file."""
    from society.app.experiment import is_experiment, load_experiment

    bad = 0
    for path in scenarios:
        try:
            if is_experiment(path):
                experiment, base = load_experiment(path, set_)
                seeds = (
                    experiment.seeds if isinstance(experiment.seeds, int) else len(experiment.seeds)
                )
                line = (
                    f"experiment {experiment.name}: {len(experiment.conditions)} conditions x "
                    f"{seeds} seeds of {base.name}, {len(experiment.hypotheses)} hypotheses"
                )
            else:
                config = load_scenario(path, set_)
                line = f"{config.name}, {config.rounds} rounds"
        except ConfigError as error:
            errors.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
            bad += 1
            continue
        console.print(f"ok: {path} ({line})", highlight=False)
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
        config = load_scenario(scenario, set_, seed)
        from society.app.dashboard.app import serve

        serve(config, port, origin=str(scenario))
    except ConfigError as error:
        raise fail(str(error)) from None


@app.command()
def talk(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (with checkpoints).")],
    agent: Annotated[int, typer.Option(help="Agent id.")],
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
    """Continue a prompt with an evolved agent, beside the ancestor's continuation."""
    from society.app.talk import open_conversation, prompts_from, reply_table
    from society.run.checkpoints import CheckpointError

    try:
        conversation = open_conversation(run_dir, agent, round_)
    except (CheckpointError, ConfigError) as error:
        raise fail(str(error)) from None
    if prompt is None:
        console.print(
            f"talking to agent {agent} (round {conversation.round}) and the ancestor; "
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
) -> None:
    """Measure this machine: matmul, training, sampling, a round, n-gram rounds, measures."""
    from society.app.bench import print_results, run_bench

    results = run_bench(quick=quick, threads=threads, console=console)
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
        list[str] | None, typer.Option(help="key.path=v1,v2 (repeatable; all combinations).")
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per cell: seed, seed+1, ...")] = 1,
    set_: SetOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Run a scenario over a grid of values x seeds; one run directory each."""
    from society.app.sweep import grid_cells, parse_grid, plan, run_sweep

    try:
        config = load_scenario(scenario, set_)
        specs = plan(config, grid_cells(parse_grid(grid or [])), seeds, out, str(scenario))
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


@app.command()
def report(
    runs: Annotated[list[str], typer.Argument(help="Run directories or glob patterns.")],
    out: Annotated[
        Path | None,
        typer.Option(help="HTML file (default: RUN/report.html, or ./report.html for many)."),
    ] = None,
) -> None:
    """Write one self-contained HTML report (figures embedded, opens offline)."""
    from analysis.report import write_report
    from analysis.runs import RunError

    try:
        path = write_report(runs, out)
    except (RunError, OSError) as error:
        raise fail(str(error)) from None
    console.print(f"report: {path}")


def main() -> None:
    """Entry point."""
    app()


if __name__ == "__main__":
    main()
