"""``python -m society``: the command line (same as the ``society`` script)."""

from society.app.cli import main

main(prog_name="society")
