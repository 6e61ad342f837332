"""Errors of the neural backends that the command line turns into one-line messages."""


class ModelError(ValueError):
    """A model that cannot be built from the scenario (one line, no traceback)."""
