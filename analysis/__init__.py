"""Read run directories and turn them into tables, figures and reports.

Nothing here imports the simulation: the run directory is the only input, read by the
names in ``society.run.layout`` (the one module of ``society`` imported here).
"""

from analysis.runs import Run, RunError, RunSet, load_run, load_runs

__all__ = ["Run", "RunError", "RunSet", "load_run", "load_runs"]
