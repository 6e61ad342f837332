"""The registered measures, one small module per family (see ``society.metrics.suite``)."""
