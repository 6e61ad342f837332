"""Export one agent of a run as a plain Hugging Face model directory.

The directory holds ``config.json``, ``model.safetensors``, the tokenizer files and
``society.json`` (where the model came from), so that ::

    AutoModelForCausalLM.from_pretrained(OUT)
    AutoTokenizer.from_pretrained(OUT)

load it with no code of ours.
"""

from __future__ import annotations

import json
from pathlib import Path

from society.run.checkpoints import CheckpointError, available_rounds, load_agent, load_ancestor


class ExportError(ValueError):
    """An agent that cannot be exported (one line)."""


def export_agent(run_dir: Path, agent: int | None, out: Path, round_: int | None = None) -> Path:
    """Write agent ``agent`` (None: the ancestor) of ``run_dir`` to ``out``.

    Args:
        run_dir: a run directory with checkpoints.
        agent: the agent's id, or None for the generation-0 ancestor.
        out: the new model directory (must not exist or be empty).
        round_: the checkpointed round (default: the latest).

    Returns:
        ``out``.

    Raises:
        ExportError: the run, round or agent has no checkpoint, the backend has no
            ``transformers`` form (n-gram), or ``out`` is not empty.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out}: already exists and is not empty")
    try:
        lm = load_ancestor(run_dir) if agent is None else load_agent(run_dir, agent, round_)
    except CheckpointError as error:
        raise ExportError(str(error)) from None
    if not hasattr(lm, "to_transformers"):
        raise ExportError(
            f"{run_dir}: agents of a {type(lm).__name__} run have no transformers form "
            "(export needs language_model.kind = 'transformer')"
        )
    from transformers.utils import logging

    model = lm.to_transformers()
    out.mkdir(parents=True, exist_ok=True)
    logging.disable_progress_bar()
    model.save_pretrained(out)
    lm.tokens.as_transformers().save_pretrained(out)
    rounds = available_rounds(run_dir)
    origin = {
        "run": str(Path(run_dir).resolve()),
        "agent": agent,
        "round": 0 if agent is None else (rounds[-1] if round_ is None else round_),
    }
    (out / "society.json").write_text(json.dumps(origin, indent=2))
    return out
