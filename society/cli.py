"""The ``society`` command line (typer + rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from society.config import ConfigError, load_scenario

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
) -> None:
    """Run a scenario and write its run directory."""
    from society.runner import run_scenario, summary

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


@app.command()
def validate(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario TOML files.")],
    set_: SetOption = None,
) -> None:
    """Check scenario files; print one line per file."""
    bad = 0
    for path in scenarios:
        try:
            config = load_scenario(path, set_)
        except ConfigError as error:
            errors.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
            bad += 1
            continue
        console.print(f"ok: {path} ({config.name}, {config.rounds} rounds)", highlight=False)
    if bad:
        raise typer.Exit(code=2)


def main() -> None:
    """Entry point."""
    app()


if __name__ == "__main__":
    main()
