"""``python -m society``: the command line (same as the ``society`` script)."""

from society.app.cli import app

app(prog_name="society")
