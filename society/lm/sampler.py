"""Batched sampling from stacked GPT models with a preallocated key/value cache.

One prefill pass over the (left-padded) prompts, then one forward of a single position
per step for all sequences of all models at once; keys and values are written into
buffers allocated once, so a step allocates no cache and copies nothing old. Logits are
processed in the order ``transformers`` uses: repetition penalty, temperature, then
top-k / top-p / min-p truncation (all three in one sorted pass), and a token is drawn by
inverse CDF with one uniform per prompt and step from a seeded ``torch.Generator``: same
seed, same text, whether or not finished sequences have left the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from society.lm.gpt import (
    GPTShape,
    KVCache,
    Params,
    block_weights,
    decode_one,
    document_mask,
    hidden_states,
    logits,
    single,
)
from society.lm.request import SpeechRequest


@dataclass(frozen=True)
class SamplingSettings:
    """How logits become a token.

    Attributes:
        temperature: softmax temperature (> 0).
        top_k: keep the k most probable tokens (0: all).
        top_p: keep the smallest set of most probable tokens with this mass (1: all).
        min_p: keep tokens with at least ``min_p`` times the top probability (0: all).
        repetition_penalty: CTRL penalty on tokens already in the sequence (1: none).
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0 or not 0 <= self.min_p < 1 or self.repetition_penalty <= 0:
            raise ValueError("top_k >= 0, 0 <= min_p < 1 and repetition_penalty > 0 required")

    @classmethod
    def of(cls, request: SpeechRequest) -> SamplingSettings:
        """The settings a :class:`~society.lm.request.SpeechRequest` asks for."""
        return cls(
            request.temperature,
            request.top_k,
            request.top_p,
            request.min_p,
            request.repetition_penalty,
        )

    @property
    def truncates(self) -> bool:
        """Whether any truncation (top-k, top-p, min-p) applies."""
        return self.top_k > 0 or self.top_p < 1 or self.min_p > 0


def next_tokens(
    scores: torch.Tensor,
    seen: torch.Tensor | None,
    settings: SamplingSettings,
    u: torch.Tensor,
) -> torch.Tensor:
    """Draw one token per row of ``scores`` ``(rows, vocab)`` by inverse CDF.

    Args:
        scores: raw logits.
        seen: boolean ``(rows, vocab)`` of tokens already in each sequence, or None.
        settings: the sampling settings.
        u: one uniform in [0, 1) per row, ``(rows, 1)``.

    Returns:
        Token ids ``(rows,)``.
    """
    if seen is not None and settings.repetition_penalty != 1:
        penalised = torch.where(
            scores > 0, scores / settings.repetition_penalty, scores * settings.repetition_penalty
        )
        scores = torch.where(seen, penalised, scores)
    if settings.temperature != 1:
        scores = scores / settings.temperature
    probs = torch.softmax(scores, dim=-1)
    if not settings.truncates:
        return inverse_cdf(probs, u)
    ranked, order = probs.sort(dim=-1, descending=True)
    cdf = ranked.cumsum(-1)
    keep = (cdf - ranked) < settings.top_p
    if settings.top_k > 0:
        keep[:, settings.top_k :] = False
    if settings.min_p > 0:
        keep &= ranked >= settings.min_p * ranked[:, :1]
    keep[:, 0] = True
    kept = torch.where(keep, ranked, 0.0).cumsum(-1)
    pick = torch.searchsorted(kept, u * kept[:, -1:], right=True).clamp_(max=probs.shape[1] - 1)
    return order.gather(1, pick)[:, 0]


BLOCK = 64
"""Tokens per block in :func:`inverse_cdf` (or the divisor of the vocabulary nearest it)."""


@cache
def _block_size(vocab: int) -> int:
    """A divisor of ``vocab`` within a factor 2 of :data:`BLOCK` (no padding), else ``BLOCK``."""
    for size in sorted(range(BLOCK // 2, 2 * BLOCK + 1), key=lambda s: abs(s - BLOCK)):
        if vocab % size == 0:
            return size
    return BLOCK


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The token whose cumulative probability first exceeds ``u`` of the total, per row.

    Two levels (which block, then where in it) instead of one cumulative sum over the whole
    vocabulary: the same token, a third of the memory traffic. Float rounding can never
    pick a token of probability zero.

    Args:
        probs: ``(rows, vocab)`` non-negative weights.
        u: ``(rows, 1)`` uniforms in [0, 1).

    Returns:
        Token ids ``(rows,)``.
    """
    rows, vocab = probs.shape
    size = _block_size(vocab)
    blocks = torch.nn.functional.pad(probs, (0, (-vocab) % size)) if vocab % size else probs
    blocks = blocks.view(rows, -1, size)
    block_cdf = blocks.sum(-1).cumsum(-1)
    target = u * block_cdf[:, -1:]
    last = (block_cdf < block_cdf[:, -1:]).sum(-1, keepdim=True)  # last block with mass
    block = torch.searchsorted(block_cdf, target, right=True).clamp_(max=last)
    before = block_cdf.gather(1, (block - 1).clamp(min=0)).masked_fill_(block == 0, 0.0)
    inner = blocks.gather(1, block[:, :, None].expand(rows, 1, size))[:, 0].cumsum(-1)
    within = torch.searchsorted(inner, target - before, right=True)
    within = torch.minimum(within, (inner < inner[:, -1:]).sum(-1, keepdim=True))
    return (block * size + within)[:, 0]


def _left_pad(prompts: list[list[np.ndarray]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(p) for seqs in prompts for p in seqs)
    a, n = len(prompts), len(prompts[0])
    ids = np.full((a, n, width), pad_id, dtype=np.int64)
    valid = np.zeros((a, n, width), dtype=bool)
    for i, seqs in enumerate(prompts):
        for j, p in enumerate(seqs):
            if len(p):
                ids[i, j, width - len(p) :] = p
                valid[i, j, width - len(p) :] = True
    return ids, valid


@dataclass
class _Batch:
    """The sequences still being decoded: ``rows`` of each model, and their state."""

    rows: torch.Tensor  # (A, B) index of each live sequence among the model's n prompts
    cache: KVCache
    keys_ok: torch.Tensor  # (A * B, length) which cache positions may be attended to
    position: torch.Tensor  # (A * B,) position id of the last token
    seen: torch.Tensor | None  # (A * B, vocab) tokens already in the sequence
    done: torch.Tensor  # (A * B,) finished

    def compact(self, token: torch.Tensor, filled: int) -> torch.Tensor:
        """Drop finished sequences (keeping the same count per model); returns ``token``'s."""
        a, b = self.rows.shape
        done = self.done.view(a, b)
        keep = int((~done).sum(1).max())
        order = torch.sort(done.to(torch.int8), dim=1, stable=True).indices[:, :keep]
        flat = (order + torch.arange(a, device=order.device)[:, None] * b).reshape(-1)
        self.rows = self.rows.gather(1, order)
        for layer in (self.cache.keys, self.cache.values):
            for i, buffer in enumerate(layer):
                smaller = torch.empty_like(buffer[: a * keep])
                smaller[:, :, :filled] = buffer[flat, :, :filled]
                layer[i] = smaller
        self.keys_ok, self.position, self.done = (
            self.keys_ok[flat],
            self.position[flat],
            self.done[flat],
        )
        if self.seen is not None:
            self.seen = self.seen[flat]
        return token[flat]


def _prefill(
    params: Params,
    shape: GPTShape,
    ids: torch.Tensor,
    positions: torch.Tensor,
    mask: torch.Tensor | None,
    cache: KVCache,
) -> torch.Tensor:
    """Run the prompts ``(A, N, width)`` through the models into ``cache``: first logits.

    When each model's prompts are all the same (unconditional speech), one row per model is
    computed and copied to the others.
    """
    a, n, width = ids.shape
    if n == 1 or mask is not None or not bool((ids == ids[:, :1]).all()):
        hidden = hidden_states(params, shape, ids, positions, mask, cache=cache, start=0)
        return logits(params, hidden[:, :, -1:]).view(a * n, -1)
    first = KVCache.empty(shape, a, width, ids.device)
    hidden = hidden_states(params, shape, ids[:, :1], positions[:, :1], None, cache=first)
    for full, one in zip(cache.keys + cache.values, first.keys + first.values, strict=True):
        full.view(a, n, *full.shape[1:])[:, :, :, :width] = one[:, None]
    return logits(params, hidden[:, :, -1:]).view(a, 1, -1).expand(a, n, -1).reshape(a * n, -1)


@torch.inference_mode()
def sample_stack(
    params: Params,
    shape: GPTShape,
    prompts: list[list[np.ndarray]],
    max_tokens: int,
    settings: SamplingSettings,
    generators: list[torch.Generator],
    eos_id: int,
    compact_below: float = 0.75,
) -> list[list[np.ndarray]]:
    """Continue every prompt of every model until end-of-text or ``max_tokens``.

    Finished sequences leave the batch once the live ones fall below ``compact_below`` of
    it, so short texts do not cost the compute of long ones.

    Args:
        params: stacked parameters of ``A`` models.
        shape: their common shape.
        prompts: per model, ``N`` prompts (the same ``N`` for every model), each an id
            array starting with the end-of-text id; longer than half the context, a prompt
            keeps its last half-context ids.
        max_tokens: tokens to generate at most (capped so prompt + text fit the context).
        settings: logits processing.
        generators: one seeded generator per model, on the models' device (each model
            samples as it would alone).
        eos_id: the end-of-text id.
        compact_below: live share under which finished sequences are dropped.

    Returns:
        Per model, per prompt, the generated ids (end-of-text excluded).
    """
    device = params["transformer.wte.weight"].device
    if len(prompts) == 1:
        params = single(params)
    half = shape.context // 2
    prompts = [[p[-half:] for p in seqs] for seqs in prompts]
    a, n = len(prompts), len(prompts[0])
    ids_np, valid_np = _left_pad(prompts, eos_id)
    width = ids_np.shape[-1]
    steps = max(0, min(max_tokens, shape.context - width + 1))
    if steps == 0 or n == 0:
        return [[np.zeros(0, dtype=np.int64)] * n for _ in range(a)]
    out = torch.full((a, n, steps), eos_id, dtype=torch.long, device=device)
    ids = torch.from_numpy(ids_np).to(device)
    valid = torch.from_numpy(valid_np).to(device).view(a * n, width)
    positions = (valid.cumsum(-1) - 1).clamp(min=0).view(a, n, width)
    padded = not bool(valid.all())
    length = width + steps - 1
    keys_ok = torch.ones(a * n, length, dtype=torch.bool, device=device)
    keys_ok[:, :width] = valid
    mask = document_mask(torch.where(valid, 0, -1)) if padded else None  # padding: -1
    cache = KVCache.empty(shape, a * n, length, device)
    scores = _prefill(params, shape, ids, positions, mask, cache)
    seen = None
    if settings.repetition_penalty != 1:
        seen = torch.zeros(a * n, shape.vocab, dtype=torch.bool, device=device)
        seen.scatter_(1, ids.view(a * n, width), valid)
    live = _Batch(
        rows=torch.arange(n, device=device).repeat(a, 1),
        cache=cache,
        keys_ok=keys_ok,
        position=positions[..., -1].reshape(a * n),
        seen=seen,
        done=torch.zeros(a * n, dtype=torch.bool, device=device),
    )
    models = torch.arange(a, device=device)[:, None]
    blocks = block_weights(params, shape.layers) if a == 1 else None  # one model: flat steps
    # one uniform per original sequence and step, so dropping finished ones changes nothing
    # (drawn at once: the same numbers as one draw of n per step)
    uniforms = torch.stack([torch.rand(steps, n, generator=g, device=device) for g in generators])
    for step in range(steps):
        u = uniforms[:, step].gather(1, live.rows).view(-1, 1)
        token = next_tokens(scores, live.seen, settings, u).masked_fill_(live.done, eos_id)
        b = live.rows.shape[1]
        out[models, live.rows, step] = token.view(a, b)
        live.done |= token == eos_id
        remaining = b - int(live.done.view(a, b).sum(1).min())
        if step == steps - 1 or remaining == 0:
            break
        at = width + step
        if remaining < compact_below * b:
            token = live.compact(token, at)
            b = remaining
        if live.seen is not None:
            live.seen[torch.arange(a * b, device=device), token] = True
        live.position += 1
        step_mask = live.keys_ok[:, None, None, : at + 1] if padded else None
        scores = _step_scores(params, shape, blocks, live, token.view(a, b), at, step_mask)
    return _until_end(out.cpu().numpy(), eos_id)


def _step_scores(
    params: Params,
    shape: GPTShape,
    blocks: list[tuple[torch.Tensor, ...]] | None,
    live: _Batch,
    token: torch.Tensor,
    at: int,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """Logits after feeding ``token`` ``(A, B)`` at cache position ``at``: ``(A * B, vocab)``.

    One model takes the flat decoding step (:func:`decode_one`), a stack the general forward.
    """
    if blocks is not None:
        return decode_one(params, shape, blocks, token[0], live.position, live.cache, at, mask)
    a, b = token.shape
    hidden = hidden_states(
        params,
        shape,
        token.view(a, b, 1),
        live.position.view(a, b, 1),
        mask,
        cache=live.cache,
        start=at,
    )
    return logits(params, hidden).view(a * b, -1)


def _until_end(tokens: np.ndarray, eos_id: int) -> list[list[np.ndarray]]:
    """Each row of ``tokens`` ``(A, N, steps)`` up to its first end-of-text."""
    a, n, steps = tokens.shape
    is_eos = tokens == eos_id
    ends = np.where(is_eos.any(-1), is_eos.argmax(-1), steps)
    return [[tokens[i, j, : ends[i, j]] for j in range(n)] for i in range(a)]
