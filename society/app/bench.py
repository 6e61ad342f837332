"""``society bench``: how fast this machine runs societies, measured against itself.

Items (each a dict in the result, ratios where the issue sets a target):

1. ``matmul``: fp32 matmul peak (best of several square ``torch.mm``), the yardstick.
2. ``training``: tokens/s of the default transformer agent on full packed batches, the
   model FLOPs that implies (6 x parameters + attention per token), as a share of (1);
   also per-agent tokens/s when ``agents_per_batch`` agents train in one stack.
3. ``sampling``: tokens/s of our KV-cache sampler against ``model.generate`` of the same
   GPT-2 weights in ``transformers``, same batch, same length, plain sampling.
4. ``round``: one round of 8 default agents (learn 100 real texts each, say 100 texts of
   up to 40 tokens) against the way a researcher would write it: one
   ``transformers.Trainer`` per agent, then ``generate`` per agent, same texts, epochs,
   optimizer steps and sampling.
5. ``memory``: resident memory of a process holding 64 default agents after one round.
6. ``ngram``: a round of n-gram societies of 10, 100 and 1,000 agents (``agents``: any
   sizes, e.g. 1,000 and 10,000), each in a fresh process: seconds per phase (events,
   listen, curate, learn, speak, record, each measure) and peak memory
   (:mod:`society.app.bench_scale`).
7. ``measures``: CPU seconds of each registered measure (``society.metrics.suite``) on
   one round of a 100-agent n-gram society.
8. ``lora_population``: one round of N LoRA agents on one small local base against one
   peft model per agent with its own AdamW loop and ``generate``
   (:mod:`society.app.bench_lora`); ``lora_population_cuda`` too when CUDA is present.
9. ``whole_run``: the whole ``society run`` process of a scenario (default: one round of
   1,000 n-gram agents), wall and CPU seconds and peak memory, beside a baseline
   interpreter/script (an older checkout) when given: the speed-up is measured in one run.

With ``device="cuda"`` the items that run on a GPU (matmul, training, sampling,
lora_population) run there and the CPU-only ones (the Trainer round, resident memory,
n-gram rounds, measures) are left out. Timings are wall-clock minima over repeats (the
measures: CPU time of one call); the machine should be quiet.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import platform
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from society.app import bench_scale
from society.lm.request import SpeechRequest

STACK = 8
"""Agents per stacked training pass in the ``stacked`` measurement (the CUDA default is 16)."""
TARGETS = {
    "training_share": 0.35,
    "sampling_speedup": 3.0,
    "round_speedup": 3.0,
    "memory_gb": 4.0,
    "lora_speedup": 1.5,
    "whole_run_speedup": bench_scale.WHOLE_RUN_TARGET,
    "ngram_scaling": bench_scale.SCALING_TARGET,
    "ngram_10000_gb": bench_scale.MEMORY_TARGET_GB,
}
ITEMS = (
    "matmul",
    "training",
    "sampling",
    "round",
    "memory",
    "ngram",
    "measures",
    "lora_population",
    "whole_run",
)
"""Every item, in the order measured (``--only`` picks among them)."""
GPU_ITEMS = ("matmul", "training", "sampling", "lora_population")
"""The items measured on the device with ``--device cuda``."""


class BenchError(ValueError):
    """A bench request that cannot be met (no CUDA device, an unknown item); one line."""


def _sync() -> None:
    """Wait for queued CUDA work, so wall-clock timings cover it (nothing without CUDA)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _best(fn: Callable[[], Any], repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (after one warm-up call)."""
    return _best_alternating([fn], repeats)[0]


def _best_alternating(fns: list[Callable[[], Any]], repeats: int) -> list[float]:
    """Smallest wall time of each function over ``repeats`` rounds calling each in turn.

    Alternating keeps a change in the machine's load from favouring one side.
    """
    for fn in fns:
        fn()
    best = [math.inf] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            _sync()
            start = time.perf_counter()
            fn()
            _sync()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def matmul_peak(size: int = 2048, repeats: int = 5, device: str = "cpu") -> dict[str, float]:
    """fp32 (and bf16) FLOP/s of a ``size`` x ``size`` matmul (best of ``repeats``)."""
    import torch

    out: dict[str, Any] = {"size": size, "threads": torch.get_num_threads(), "device": device}
    for key, dtype in (("flops", torch.float32), ("bf16_flops", torch.bfloat16)):
        a = torch.randn(size, size, dtype=dtype, device=device)
        b = torch.randn(size, size, dtype=dtype, device=device)
        out[key] = 2.0 * size**3 / _best(lambda a=a, b=b: torch.mm(a, b), repeats)
    return out


def default_config(**overrides: Any):  # noqa: ANN201 - TransformerConfig
    """The scenario default ``[language_model]`` with ``kind = "transformer"``."""
    from society.config import TransformerConfig

    return TransformerConfig(**overrides)


def _full_rows(rows: int, context: int, vocab: int, rng: np.random.Generator):  # noqa: ANN202
    """Packed rows of one full-length document each (random ids: compute is content-free)."""
    from society.lm.packing import Packed

    inputs = rng.integers(0, vocab, (rows, context))
    targets = rng.integers(0, vocab, (rows, context))
    positions = np.tile(np.arange(context), (rows, 1))
    docs = np.repeat(np.arange(rows)[:, None], context, axis=1)
    return Packed(inputs, targets, positions, docs, docs.copy())


def training_throughput(
    peak: float, steps: int = 6, vocab: int = 2000, precision: str = "auto", device: str = "cpu"
) -> dict[str, float]:
    """Training tokens/s and achieved FLOP/s of the default agent, alone and stacked.

    Args:
        peak: the fp32 matmul peak (the share reported is of this).
        steps: optimizer steps per measurement.
        vocab: vocabulary size.
        precision: ``[language_model] precision`` (``auto``: the scenario default).
        device: ``cpu`` or ``cuda``.
    """
    import torch

    from society.lm.factory import settings_from, shape_from
    from society.lm.gpt import init_params
    from society.lm.precision import resolve_precision
    from society.lm.train import train_stack

    config = default_config(precision=precision)
    shape = shape_from(config, vocab)
    where = torch.device(device)
    resolved = resolve_precision(config.precision, where)
    settings = replace(settings_from(config, resolved)[0], steps=steps)
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {
        "params": shape.n_params(),
        "batch_tokens": config.batch_size * config.context,
        "precision": resolved,
    }
    for label, agents in (("alone", 1), ("stacked", STACK)):
        models = [init_params(shape, torch.Generator().manual_seed(i)) for i in range(agents)]
        data = [_full_rows(config.batch_size * steps, config.context, vocab, rng) for _ in models]
        seconds = _best(
            lambda models=models, data=data: train_stack(
                models, shape, data, list(range(len(models))), settings, where
            ),
            3,
        )
        tokens = steps * config.batch_size * config.context * agents
        flops = shape.flops_per_token((config.context + 1) / 2) * tokens / seconds
        out[f"{label}_agents"] = agents
        out[f"{label}_tokens_per_s"] = tokens / seconds
        out[f"{label}_flops"] = flops
        out[f"{label}_share_of_peak"] = flops / peak
    return out


def _untrained_default(tokenizer, device: str = "cpu"):  # noqa: ANN001, ANN202
    from society.lm.factory import build_language_model

    return build_language_model(default_config(device=device), tokenizer)


def bench_ancestor(texts: int = 2000, device: str = "cpu"):  # noqa: ANN201
    """The default agent trained for one epoch on KJV verses (cached like any ancestor).

    Returns:
        ``(model, corpus)``.
    """
    from society.corpora import load_corpus
    from society.lm.ancestor_cache import build_ancestor
    from society.lm.tokenizer import SharedTokenizer

    corpus = load_corpus(
        "kjv", holdout=0.1, split_seed=0, max_texts=texts, unit="sentence", text_field="text"
    )
    tokenizer = SharedTokenizer.train(corpus.train, 2000, 2)
    config = default_config(ancestor_epochs=1.0, device=device)
    model = build_ancestor(config, tokenizer, corpus.train)
    return model, corpus


def _generate(model, batch: int, max_tokens: int, eos: int) -> int:  # noqa: ANN001
    """``model.generate`` from end-of-text prompts; returns the tokens generated."""
    import torch

    start = torch.full((batch, 1), eos, dtype=torch.long, device=model.device)
    with torch.inference_mode():
        out = model.generate(
            start,
            attention_mask=torch.ones_like(start),
            do_sample=True,
            top_k=0,
            max_new_tokens=max_tokens,
            pad_token_id=eos,
        )
    return tokens_until_end(out[:, 1:].cpu().numpy(), eos)


def tokens_until_end(generated: np.ndarray, eos: int) -> int:
    """Tokens generated per row up to and including its first end-of-text (each a step).

    ``generate`` pads finished rows with ``eos``; our sampler's rows stop before it. Both
    sides of :func:`sampling_throughput` are counted by this one rule.
    """
    is_end = generated == eos
    before = np.cumsum(is_end, axis=1) - is_end  # ends strictly before each position
    return int((before == 0).sum())


def sampling_throughput(lm, batch: int = 100, max_tokens: int = 40) -> dict[str, float]:  # noqa: ANN001
    """Our sampler against ``generate`` on the same weights, batch and length.

    Tokens/s count generated tokens up to each text's end (what a society receives).
    """
    hf = lm.to_transformers().to(lm.device)
    eos = lm.tokens.eos_id
    counted: dict[str, int] = {}
    said: list[str] = []

    def request() -> SpeechRequest:
        return SpeechRequest(batch, rng=np.random.default_rng(0), max_tokens=max_tokens)

    def ours() -> None:
        said[:] = lm.sample(request())

    def reference() -> None:
        counted["generate"] = _generate(hf, batch, max_tokens, eos)

    ours_s, ref_s = _best_alternating([ours, reference], 5)
    counted["ours"] = _generated_tokens(lm, request(), said)
    ours_tps, ref_tps = counted["ours"] / ours_s, counted["generate"] / ref_s
    return {
        "batch": batch,
        "max_tokens": max_tokens,
        "ours_tokens_per_s": ours_tps,
        "generate_tokens_per_s": ref_tps,
        "speedup": ours_tps / ref_tps,
        "ours_mean_length": counted["ours"] / batch,
    }


def _generated_tokens(lm, request: SpeechRequest, said: list[str]) -> int:  # noqa: ANN001
    """Tokens ``lm.sample(request)`` generated, counted by :func:`tokens_until_end`.

    The same ids again from the sampler (``request`` with a fresh ``rng`` of the same seed),
    checked against ``said`` (re-encoding the texts would count canonical, not generated,
    tokens).
    """
    from society.lm.transformer import sample_ids

    (ids,) = sample_ids([(lm, request)])
    if lm.tokens.decode_batch(ids) != said:
        raise RuntimeError("the sampler did not repeat itself; the count would be wrong")
    eos = lm.tokens.eos_id
    padded = np.full((len(ids), request.max_tokens), eos, dtype=np.int64)
    for i, row in enumerate(ids):
        padded[i, : len(row)] = row
    return tokens_until_end(padded, eos)


def _round_data(corpus, agents: int, texts: int) -> list[list[str]]:  # noqa: ANN001
    rng = np.random.default_rng(1)
    return [
        [corpus.train[i] for i in rng.choice(len(corpus.train), texts, replace=False)]
        for _ in range(agents)
    ]


def ours_round(ancestor, data: list[list[str]], utterances: int, max_tokens: int) -> float:  # noqa: ANN001
    """Seconds for every agent to learn its texts, then say ``utterances`` texts.

    The way a society runs a round: updates are trained together, then every agent samples
    with its own seeded generator (:func:`society.lm.base.sample_many`).
    """
    from society.lm.base import sample_many

    agents = [ancestor.clone() for _ in data]
    requests = [
        SpeechRequest(utterances, rng=np.random.default_rng(i), max_tokens=max_tokens)
        for i in range(len(agents))
    ]
    start = time.perf_counter()
    for lm, texts in zip(agents, data, strict=True):
        lm.update(texts)
    sample_many(agents, requests)
    return time.perf_counter() - start


def naive_round(  # noqa: ANN201
    ancestor,  # noqa: ANN001
    data: list[list[str]],
    utterances: int,
    max_tokens: int,
    workdir: str,
) -> float:
    """The same work the way a researcher would write it: Trainer, then generate.

    Same texts (each ``[EOS] text [EOS]``, padded per batch by the standard collator),
    epochs, number of optimizer steps, learning rate and sampling as :func:`ours_round`.
    """
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    settings, tokens = ancestor.settings, ancestor.tokens
    collator = DataCollatorForLanguageModeling(tokens.as_transformers(), mlm=False)
    eos = tokens.eos_id
    start = time.perf_counter()
    for texts in data:
        steps, _ = settings.plan(len(ancestor.pack(texts)))
        per_step = max(1, math.ceil(len(texts) * settings.epochs / steps))
        model = ancestor.to_transformers().train()
        encoded = [
            {"input_ids": [eos, *ids.tolist()[: ancestor.shape.context - 2], eos]}
            for ids in tokens.encode_batch(texts)
        ]
        args = TrainingArguments(
            output_dir=workdir,
            per_device_train_batch_size=per_step,
            num_train_epochs=settings.epochs,
            learning_rate=settings.learning_rate,
            weight_decay=settings.weight_decay,
            adam_beta2=0.95,
            max_grad_norm=settings.grad_clip,
            lr_scheduler_type="constant",
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            use_cpu=True,
            disable_tqdm=True,
            seed=0,
        )
        Trainer(model=model, args=args, train_dataset=encoded, data_collator=collator).train()
        _generate(model.eval(), utterances, max_tokens, eos)
    return time.perf_counter() - start


def round_speed(
    ancestor,  # noqa: ANN001
    corpus,  # noqa: ANN001
    agents: int = 8,
    texts: int = 100,
    utterances: int = 100,
    max_tokens: int = 40,
) -> dict[str, float]:
    """A full round of ``agents`` default transformer agents: ours against the naive way.

    Ours runs at the scenario default precision and again in fp32 (the naive reference is
    fp32, as ``Trainer`` is by default), so both ratios are on record.
    """
    import tempfile

    data = _round_data(corpus, agents, texts)
    ours = min(ours_round(ancestor, data, utterances, max_tokens) for _ in range(2))
    fp32 = ancestor.clone()
    fp32.settings = replace(fp32.settings, precision="fp32")
    ours_fp32 = min(ours_round(fp32, data, utterances, max_tokens) for _ in range(2))
    with tempfile.TemporaryDirectory() as workdir:
        naive = naive_round(ancestor, data, utterances, max_tokens, workdir)
    return {
        "agents": agents,
        "precision": ancestor.settings.precision,
        "ours_s": ours,
        "ours_fp32_s": ours_fp32,
        "naive_s": naive,
        "speedup": naive / ours,
        "speedup_fp32": naive / ours_fp32,
    }


def _resident_bytes() -> int:
    """Current resident memory of this process (Linux ``/proc``; else its peak so far)."""
    import resource

    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _memory_child(queue, agents: int, threads: int) -> None:  # noqa: ANN001
    import resource

    import torch

    from society.lm.base import sample_many

    if threads:
        torch.set_num_threads(threads)
    ancestor, corpus = bench_ancestor()
    before = _resident_bytes()
    population = [ancestor.clone() for _ in range(agents)]
    for lm, texts in zip(population, _round_data(corpus, agents, 100), strict=True):
        lm.update(texts)
    sample_many(
        population,
        [SpeechRequest(100, rng=np.random.default_rng(i), max_tokens=40) for i in range(agents)],
    )
    after = _resident_bytes()
    queue.put((before, after, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))


def memory(agents: int = 64) -> dict[str, float]:
    """Resident memory of a fresh process that runs one round of ``agents`` agents.

    Returns:
        ``baseline_gb`` (torch, corpus, tokenizer and the ancestor loaded, no agents yet),
        ``rss_gb`` (after the round, the agents alive) and ``peak_rss_gb`` (the process's
        peak).
    """
    import torch

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_memory_child, args=(queue, agents, torch.get_num_threads()))
    child.start()
    before, after, peak = queue.get()
    child.join()
    return {
        "agents": agents,
        "baseline_gb": before / 1e9,
        "rss_gb": after / 1e9,
        "peak_rss_gb": peak / 1e9,
    }


def measure_times(
    agents: int = 100, utterances: int = 150, texts: int = 4000, seed: int = 0
) -> dict[str, float]:
    """CPU seconds each registered measure takes on one round of an n-gram society.

    Builds a default n-gram society (small-world graph, 4 neighbours each) and times every
    measure of its registry on its round-0 record, in registration order, through
    ``Registry.measure`` itself. Round 0 is due for the expensive measures, so each does
    its full work. CPU time (all threads of this process) rather than wall time, so other
    work on a shared machine does not inflate the numbers.

    Args:
        agents: number of agents.
        utterances: texts each agent says.
        texts: real texts read from the KJV corpus.
        seed: scenario seed.

    Returns:
        ``agents``, then each measure's name with its seconds, then ``total``.
    """
    from society.app.bench_scale import small_world
    from society.sim.model import Society

    # Each measure's own CPU time: no side process computing some of them elsewhere.
    scenario = small_world(agents, utterances, texts, seed, **{"metrics.side_process": False})
    society = Society(scenario)
    seconds: dict[str, float] = {}
    society.measures.measure(society.round_record(), seconds)
    return {"agents": float(agents), **seconds, "total": sum(seconds.values())}


def _items(device: str, only: list[str] | None) -> list[str]:
    """The items to measure, in order; training needs the matmul peak, so it brings it.

    Raises:
        BenchError: an unknown item, or ``cuda`` without a CUDA device.
    """
    import torch

    if device not in ("cpu", "cuda"):
        raise BenchError(f"--device: {device!r} is not 'cpu' or 'cuda'")
    if device == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda: no CUDA device is available (torch sees none)")
    chosen = list(only or ITEMS)
    unknown = [name for name in chosen if name not in ITEMS]
    if unknown:
        raise BenchError(f"--only: unknown item {unknown[0]!r} (items: {', '.join(ITEMS)})")
    if "training" in chosen:
        chosen.append("matmul")
    available = GPU_ITEMS if device == "cuda" else ITEMS
    return [name for name in ITEMS if name in chosen and name in available]


def lora_item(device: str, quick: bool) -> dict[str, Any]:
    """The ``lora_population`` item (quick on CPU: 4 agents on a 2-block base, short texts).

    On CUDA the full item is seconds, so ``quick`` keeps it whole (a tiny round would
    measure kernel launches, not the population).
    """
    from society.app.bench_lora import lora_population

    if quick and device == "cpu":
        return lora_population(
            device, agents=4, texts=12, utterances=6, max_tokens=12, width=64, layers=2
        )
    return lora_population(device)


def run_bench(  # noqa: C901 - one branch per item
    quick: bool = False,
    threads: int = 0,
    console=None,  # noqa: ANN001
    device: str = "cpu",
    only: list[str] | None = None,
    agents: tuple[int, ...] | None = None,
    scenario: Path | None = None,
    baseline_python: str | None = None,
    baseline_script: str | None = None,
    pairs: int = 1,
    scale: int | None = None,
) -> dict[str, Any]:
    """Measure every item; ``quick`` shrinks workloads (rough numbers, a few minutes).

    Args:
        quick: smaller workloads (2 agents in the round, 16 in the memory test, no 1,000
            agent n-gram society, 20 agents for the measures, a tiny LoRA round).
        threads: torch CPU threads (0: torch's default, one per core).
        console: a rich console for progress lines.
        device: ``cpu`` (every item; the LoRA round on CUDA too when present) or ``cuda``
            (the items of :data:`GPU_ITEMS`, on the GPU).
        only: measure just these items of :data:`ITEMS`.
        agents: n-gram society sizes (default 10, 100, 1,000; quick 10, 100).
        scenario: the ``whole_run`` scenario (default: one round of 1,000 n-gram agents;
            quick: 100).
        baseline_python: the interpreter of a baseline ``whole_run`` (None: none).
        baseline_script: the baseline's entry script (None: ``-m society``).
        pairs: ``whole_run`` runs of each side, alternating (each side's median quoted).
        scale: ``whole_run`` also times the default scenario with this many agents, beside
            1,000 (the 10x target).

    Returns:
        ``{"machine": ..., "matmul": ..., "training": ..., ...}`` plus ``targets`` and
        ``verdicts`` (whether each target of the issue is met on this machine).

    Raises:
        BenchError: an unknown item, or ``cuda`` without a CUDA device.
    """
    import torch

    items = _items(device, only)
    if threads:
        torch.set_num_threads(threads)

    def say(text: str) -> None:
        if console is not None:
            console.print(f"[dim]bench:[/dim] {text}")

    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": multiprocessing.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "cuda": torch.cuda.is_available(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "device": device,
            "quick": quick,
        }
    }
    if "matmul" in items:
        say(f"matmul peak ({device})")
        results["matmul"] = matmul_peak(1024 if quick else 2048, device=device)
    if "training" in items:
        say("training throughput")
        steps = 2 if quick else 6
        results["training"] = training_throughput(
            results["matmul"]["flops"], steps, precision="fp32", device=device
        )
        from society.lm.precision import cpu_has_native_bf16

        if device == "cuda" or cpu_has_native_bf16():
            say("training throughput, bf16 mixed precision")
            results["training_bf16"] = training_throughput(
                results["matmul"]["bf16_flops"], steps, precision="bf16", device=device
            )
    if "sampling" in items or "round" in items:
        say("the default agent, trained on KJV (cached after the first run)")
        ancestor, corpus = bench_ancestor(device=device)
    if "sampling" in items:
        say("sampling throughput")
        results["sampling"] = sampling_throughput(ancestor)
        results["sampling_full_length"] = sampling_throughput(
            _untrained_default(ancestor.tokens, device)
        )
    if "round" in items:
        say("one round, ours vs Trainer + generate")
        try:
            results["round"] = round_speed(ancestor, corpus, agents=2 if quick else 8)
        except ImportError as error:  # transformers.Trainer needs accelerate
            results["round"] = {"skipped": str(error)}
    if "memory" in items:
        say("memory of 64 agents")
        results["memory"] = memory(16 if quick else 64)
    if "ngram" in items:
        sizes = agents or ((10, 100) if quick else bench_scale.SIZES)
        say(f"n-gram rounds of {', '.join(map(str, sizes))} agents, each in a fresh process")
        results["ngram"] = bench_scale.ngram_scale(tuple(sizes))
    if "measures" in items:
        say("each registered measure, one round")
        results["measures"] = measure_times(20 if quick else 100)
    if "lora_population" in items:
        say(f"a LoRA population round vs one peft model per agent ({device})")
        results["lora_population"] = lora_item(device, quick)
        if device == "cpu" and torch.cuda.is_available():
            say("the same on CUDA")
            results["lora_population_cuda"] = lora_item("cuda", quick)
    if "whole_run" in items:
        say("the whole society run" + (" beside the baseline" if baseline_python else ""))
        results["whole_run"] = bench_scale.whole_run(
            scenario,
            100 if quick else 1000,
            baseline_python,
            baseline_script,
            pairs=pairs,
            scale=scale,
        )
    results["targets"] = TARGETS
    results["verdicts"] = verdicts(results)
    return results


def _at_least(item: dict[str, Any] | None, key: str, target: float) -> bool | None:
    """Whether ``item[key] >= target`` (None when the item or key was not measured)."""
    if not item or key not in item:
        return None
    return bool(item[key] >= target)


def verdicts(results: dict[str, Any]) -> dict[str, bool | None]:
    """Whether each target is met (None when not measured).

    The LoRA target is the issue's for the device it ran on (1.5x on CPU, 3x on CUDA).
    """
    mem = results.get("memory", {})
    lora = results.get("lora_population_cuda") or results.get("lora_population") or {}
    return {
        "training_share": _at_least(
            results.get("training"), "alone_share_of_peak", TARGETS["training_share"]
        ),
        "sampling_speedup": _at_least(
            results.get("sampling"), "speedup", TARGETS["sampling_speedup"]
        ),
        "round_speedup": _at_least(results.get("round"), "speedup", TARGETS["round_speedup"]),
        "memory_gb": (
            mem["peak_rss_gb"] * 64 / mem["agents"] <= TARGETS["memory_gb"]
            if mem.get("agents") == 64
            else None
        ),
        "lora_speedup": _at_least(lora, "speedup", lora.get("target", TARGETS["lora_speedup"])),
        **scale_verdicts(results),
    }


def scale_verdicts(results: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's scale targets: the whole run's speed-up; 10,000 agents' time and memory."""
    ngram = results.get("ngram", {})
    scaling = ngram.get("process_scaling_10000_over_1000")
    big = [row for row in ngram.get("sizes", []) if row["agents"] == 10000 and "process" in row]
    scale = (results.get("whole_run") or {}).get("scale") or {}
    return {
        "whole_run_speedup": _at_least(
            results.get("whole_run"), "speedup", TARGETS["whole_run_speedup"]
        ),
        "ngram_scaling": None if scaling is None else bool(scaling <= TARGETS["ngram_scaling"]),
        "ngram_10000_gb": (
            bool(bench_scale.peak_gb(big[0]["process"]) <= TARGETS["ngram_10000_gb"])
            if big
            else None
        ),
        "whole_run_scaling": (
            bool(scale["ratio"] <= TARGETS["ngram_scaling"]) if "ratio" in scale else None
        ),
        "whole_run_10000_gb": (
            bool(bench_scale.peak_gb(scale["run"]) <= TARGETS["ngram_10000_gb"]) if scale else None
        ),
    }


Row = tuple[str, str, str, bool | None]


def _machine_rows(results: dict[str, Any], v: dict[str, bool | None]) -> list[Row]:
    """Matmul peaks and training throughput."""
    rows: list[Row] = []
    if "matmul" not in results:
        return rows
    peak = results["matmul"]["flops"]
    where = results["matmul"].get("device", "cpu")
    rows += [
        (f"fp32 matmul peak ({where})", f"{peak / 1e9:.1f} GFLOP/s", "", None),
        (
            f"bf16 matmul peak ({where})",
            f"{results['matmul']['bf16_flops'] / 1e9:.1f} GFLOP/s",
            "",
            None,
        ),
    ]
    if "training" in results:
        train = results["training"]
        rows += [
            (
                "training, default agent, fp32",
                f"{train['alone_tokens_per_s']:.0f} tok/s, "
                f"{train['alone_share_of_peak']:.0%} of fp32 peak",
                "35% of peak",
                v["training_share"],
            ),
            (
                f"training, {train['stacked_agents']} agents stacked, fp32",
                f"{train['stacked_tokens_per_s'] / train['stacked_agents']:.0f} tok/s per agent, "
                f"{train['stacked_share_of_peak']:.0%} of fp32 peak",
                "",
                None,
            ),
        ]
    if "training_bf16" in results:
        bf16 = results["training_bf16"]
        rows.append(
            (
                "training, default agent, bf16 mixed",
                f"{bf16['alone_tokens_per_s']:.0f} tok/s, "
                f"{bf16['alone_share_of_peak']:.0%} of bf16 peak, "
                f"{bf16['alone_flops'] / peak:.0%} of fp32 peak",
                "",
                None,
            )
        )
    return rows


def _sampling_rows(results: dict[str, Any], v: dict[str, bool | None]) -> list[Row]:
    """Our sampler against ``generate``, trained and untrained."""
    if "sampling" not in results:
        return []
    sample, full = results["sampling"], results["sampling_full_length"]
    return [
        (
            "sampling vs generate, trained default agent",
            f"{sample['ours_tokens_per_s']:.0f} vs "
            f"{sample['generate_tokens_per_s']:.0f} tok/s = {sample['speedup']:.1f}x",
            "3x",
            v["sampling_speedup"],
        ),
        (
            "sampling vs generate, untrained (full length)",
            f"{full['ours_tokens_per_s']:.0f} vs {full['generate_tokens_per_s']:.0f} tok/s = "
            f"{full['speedup']:.1f}x",
            "",
            None,
        ),
    ]


def _round_rows(results: dict[str, Any], v: dict[str, bool | None]) -> list[Row]:
    """The round against Trainer + generate, and the memory of many agents."""
    rows: list[Row] = []
    round_ = results.get("round")
    if round_ is not None and "speedup" in round_:
        rows.append(
            (
                f"round of {round_['agents']} agents vs Trainer + generate "
                f"(ours {round_['precision']})",
                f"{round_['ours_s']:.1f} s vs {round_['naive_s']:.1f} s = {round_['speedup']:.1f}x",
                "3x",
                v["round_speedup"],
            )
        )
        rows.append(
            (
                "the same round, ours in fp32",
                f"{round_['ours_fp32_s']:.1f} s vs {round_['naive_s']:.1f} s = "
                f"{round_['speedup_fp32']:.1f}x",
                "",
                None,
            )
        )
    elif round_ is not None:
        rows.append(("round vs Trainer + generate", round_.get("skipped", ""), "3x", None))
    if "memory" in results:
        mem = results["memory"]
        rows.append(
            (
                f"memory, one round of {mem['agents']} agents",
                f"{mem['rss_gb']:.2f} GB resident ({mem['baseline_gb']:.2f} before the agents), "
                f"peak {mem['peak_rss_gb']:.2f} GB",
                "4 GB for 64",
                v["memory_gb"],
            )
        )
    return rows


def _lora_rows(results: dict[str, Any]) -> list[Row]:
    """The LoRA population round against one peft model per agent, per device."""
    rows: list[Row] = []
    for key in ("lora_population", "lora_population_cuda"):
        item = results.get(key)
        if item is None:
            continue
        if "speedup" not in item:
            rows.append((f"LoRA population round ({key})", item.get("skipped", ""), "", None))
            continue
        rows.append(
            (
                f"LoRA round of {item['agents']} agents vs peft per agent ({item['device']})",
                f"{item['ours_s']:.2f} s vs {item['naive_s']:.2f} s = {item['speedup']:.1f}x; "
                f"{item['ours_tokens_per_s']:.0f} tok/s; "
                f"{item['bytes_per_agent'] / 1e6:.2f} MB per agent",
                f"{item['target']:g}x",
                bool(item["speedup"] >= item["target"]),
            )
        )
    return rows


def _cpu_rows(results: dict[str, Any]) -> list[Row]:
    """n-gram rounds and whole runs (:mod:`society.app.bench_scale`), each measure's CPU time."""
    rows: list[Row] = bench_scale.scale_rows(results)
    if "measures" in results:
        measures = dict(results["measures"])
        size = int(measures.pop("agents"))
        for name, seconds in measures.items():
            rows.append((f"measure {name}, {size} agents (CPU)", f"{seconds:.3f} s", "", None))
    return rows


def print_results(results: dict[str, Any], console) -> None:  # noqa: ANN001
    """A rich table of the headline numbers (of the items measured)."""
    from rich.table import Table

    table = Table(title="society bench")
    table.add_column("item")
    table.add_column("measured", justify="right")
    table.add_column("target", justify="right")
    table.add_column("met")
    v = results["verdicts"]
    rows = [
        *_machine_rows(results, v),
        *_sampling_rows(results, v),
        *_round_rows(results, v),
        *_lora_rows(results),
        *_cpu_rows(results),
    ]
    for item, measured, target, met in rows:
        mark = "" if met is None else ("yes" if met else "NO")
        table.add_row(item, measured, target, mark)
    console.print(table)
    phases = bench_scale.phase_table(results)
    if phases is not None:
        console.print(phases)
