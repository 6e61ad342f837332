"""Export one agent of a run as a plain Hugging Face model directory.

The directory holds ``config.json``, ``model.safetensors``, ``generation_config.json``, the
tokenizer files, ``society.json`` (provenance: run, agent, round, seed, scenario hash,
society version, git commit when known) and ``README.md`` (a model card), so that ::

    AutoModelForCausalLM.from_pretrained(OUT)
    AutoTokenizer.from_pretrained(OUT)

load it with no code of ours. The tokenizer's ``model_max_length`` is the model's context
(its learned positions) and it truncates from the left, so a prompt longer than the
context keeps its most recent tokens; ``generation_config.max_length`` is the context too.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from society.run import layout
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
    from transformers import GenerationConfig
    from transformers.utils import logging

    model = lm.to_transformers()
    context = int(model.config.n_positions)
    out.mkdir(parents=True, exist_ok=True)
    logging.disable_progress_bar()
    model.generation_config = GenerationConfig(
        max_length=context,
        bos_token_id=model.config.bos_token_id,
        eos_token_id=model.config.eos_token_id,
        pad_token_id=model.config.eos_token_id,
    )
    model.save_pretrained(out)
    tokenizer = lm.tokens.as_transformers()
    tokenizer.model_max_length = context
    tokenizer.truncation_side = "left"
    tokenizer.init_kwargs.update(model_max_length=context, truncation_side="left")  # saved
    tokenizer.save_pretrained(out)
    rounds = available_rounds(run_dir)
    origin = provenance(
        Path(run_dir), agent, 0 if agent is None else (rounds[-1] if round_ is None else round_)
    )
    origin["context"] = context
    (out / "society.json").write_text(json.dumps(origin, indent=2))
    (out / "README.md").write_text(model_card(origin), encoding="utf-8")
    return out


def git_commit(directory: Path) -> str | None:
    """The commit checked out at ``directory`` (``None`` outside a git work tree)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def provenance(run_dir: Path, agent: int | None, round_: int) -> dict[str, Any]:
    """Where an exported model came from: run, agent, round, seed, scenario, versions."""
    config = (run_dir / layout.CONFIG).read_bytes()
    manifest_path = run_dir / layout.MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    versions = manifest.get("versions", {})
    try:
        exporter = metadata.version("society")
    except metadata.PackageNotFoundError:
        exporter = None
    return {
        "run": str(run_dir.resolve()),
        "agent": agent,
        "round": round_,
        "scenario": manifest.get("scenario"),
        "seed": manifest.get("seed"),
        "scenario_sha256": hashlib.sha256(config).hexdigest(),
        "society_version": versions.get("society", exporter),
        "git_commit": manifest.get("git_commit") or git_commit(Path(__file__).parent),
        "exported_with": exporter,
    }


def model_card(origin: dict[str, Any]) -> str:
    """A short model card (``README.md``) from the provenance."""
    who = "the generation-0 ancestor" if origin["agent"] is None else f"agent {origin['agent']}"
    context = origin["context"]
    return f"""---
library_name: transformers
tags: [society, gpt2, language-change]
---
# {who} of society run `{origin["scenario"]}` (round {origin["round"]})

A small GPT-2 language model exported by `society export` from a simulation of
language models that learn from each other (the `society` research instrument). It
learned only from what its neighbours said, so its language has drifted from the real
corpus by design: it is a research artefact, not a general-purpose model.

| | |
| --- | --- |
| run | `{origin["run"]}` |
| scenario | `{origin["scenario"]}`, sha256 of its `config.toml` `{origin["scenario_sha256"]}` |
| seed | {origin["seed"]} |
| agent, round | {origin["agent"]}, {origin["round"]} |
| society | {origin["society_version"]}, commit {origin["git_commit"] or "unknown"} |
| context | {context} tokens (the tokenizer's `model_max_length`; it truncates from the left) |

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained(PATH)
tokenizer = AutoTokenizer.from_pretrained(PATH)
new = 20  # a long prompt keeps its last {context} - new tokens
ids = tokenizer(prompt, truncation=True, max_length=tokenizer.model_max_length - new,
                return_tensors="pt")
text = tokenizer.decode(model.generate(**ids, max_new_tokens=new, do_sample=True)[0])
```
"""
