"""Transformer agents: a GPT-2 per agent, trained in stacks, sampled with a KV cache.

:class:`TransformerLM` implements :class:`society.lm.base.LanguageModel`. Each agent's
weights are its own tensors in ``transformers.GPT2LMHeadModel`` naming (so
:meth:`TransformerLM.state` is a GPT-2 checkpoint), built by :mod:`society.lm.factory`
from the scenario's ``[language_model]`` keys or from a local GPT-2 checkpoint (``path``)
with that checkpoint's tokenizer.

Learning is deferred: :meth:`TransformerLM.update` only records the texts, and the first
later call that needs weights (sample, score, state, clone) trains every waiting model of
the society at once, ``agents_per_batch`` models per stacked pass
(:func:`society.lm.train.train_stack`). Agents never see this: each call returns exactly
what training that model alone would give, and training is seeded by the texts.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch

from society.lm.gpt import GPTShape, Params, hidden_states
from society.lm.gpt import logits as output_logits
from society.lm.packing import Packed, documents, pack
from society.lm.request import SpeechRequest
from society.lm.sampler import SamplingSettings, sample_stack
from society.lm.tokens import Tokens
from society.lm.train import TrainSettings, score_packed, texts_seed, train_stack

T = TypeVar("T")
R = TypeVar("R")


class _Waiting:
    """Models of one society with recorded but not yet applied updates."""

    def __init__(self) -> None:
        self.models: weakref.WeakValueDictionary[int, TransformerLM] = weakref.WeakValueDictionary()

    def add(self, model: TransformerLM) -> None:
        self.models[id(model)] = model

    def discard(self, model: TransformerLM) -> None:
        self.models.pop(id(model), None)

    def flush(self) -> None:
        """Train every waiting model, stacking those with the same plan."""
        models = [m for m in self.models.values() if m._pending is not None]
        self.models.clear()
        if not models:
            return
        groups: dict[tuple, list[tuple[TransformerLM, Packed, int]]] = {}
        for model in models:
            texts, model._pending = model._pending, None
            rows = model.pack(texts)
            key = (model.shape, model.settings, model.settings.plan(len(rows)), model.device)
            groups.setdefault(key, []).append((model, rows, texts_seed(texts)))
        chunks = []
        for members in groups.values():
            size = members[0][0].agents_per_batch
            chunks.extend(members[i : i + size] for i in range(0, len(members), size))
        _run_chunks(chunks)


Chunk = list[tuple["TransformerLM", Packed, int]]


def _train_chunk(chunk: Chunk) -> None:
    """Train the models of one stack and give each its new weights."""
    first = chunk[0][0]
    trained = train_stack(
        [m.params for m, _, _ in chunk],
        first.shape,
        [rows for _, rows, _ in chunk],
        [seed for _, _, seed in chunk],
        first.settings,
        first.device,
    )
    for (model, _, _), params in zip(chunk, trained, strict=True):
        model.params = params


def _on_cpu_threads(fn: Callable[[T], R], items: list[T], parallel: bool) -> list[R]:
    """``[fn(item) for item in items]``, on CPU one item per thread, each single-threaded.

    Small models keep one core busy better than they split one operation across cores, so
    with ``k`` torch threads, ``k`` items run at once. Items must not share state.
    """
    threads = torch.get_num_threads()
    if not parallel or len(items) < 2 or threads < 2:
        return [fn(item) for item in items]
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(min(threads, len(items))) as pool:
            return list(pool.map(fn, items))
    finally:
        torch.set_num_threads(threads)


def _run_chunks(chunks: list[Chunk]) -> None:
    """Train stacks, on CPU in parallel threads (:func:`_on_cpu_threads`).

    Results are the same either way for a given thread count: no stack reads another's
    data, and training draws no global random numbers unless dropout is on, in which case
    stacks run one after the other.
    """
    parallel = all(c[0][0].device.type == "cpu" and c[0][0].settings.dropout == 0 for c in chunks)
    _on_cpu_threads(_train_chunk, chunks, parallel)


class TransformerLM:
    """A GPT-2 language model (implements :class:`society.lm.base.LanguageModel`).

    Args:
        tokens: the tokenizer (the run's shared one or a checkpoint's own).
        shape: the model shape.
        settings: training settings of each round.
        ancestor_settings: training settings of :meth:`fit` (generation 0).
        initial: returns the starting weights (seeded random init or a checkpoint's).
        device: where weights live and compute runs.
        agents_per_batch: most models trained (and, on an accelerator, sampled) together in
            one stacked pass.
        window: positions per packed row (default: the shape's context).
    """

    def __init__(
        self,
        tokens: Tokens,
        shape: GPTShape,
        settings: TrainSettings,
        ancestor_settings: TrainSettings,
        initial: Callable[[], Params],
        device: torch.device,
        agents_per_batch: int = 8,
        window: int | None = None,
    ) -> None:
        if tokens.vocab_size > shape.vocab:
            raise ValueError(f"tokenizer has {tokens.vocab_size} ids, model only {shape.vocab}")
        self.tokens = tokens
        self.shape = shape
        self.settings = settings
        self.ancestor_settings = ancestor_settings
        self.initial = initial
        self.device = device
        self.agents_per_batch = agents_per_batch
        self.params: Params = {k: v.to(device) for k, v in initial().items()}
        self.window = shape.context if window is None else window
        self._pending: list[str] | None = None
        self._waiting = _Waiting()

    # ------------------------------------------------------------------ data

    def pack(self, texts: Sequence[str], stride: int | None = None) -> Packed:
        """Tokenize and pack ``texts`` into rows of the model's context."""
        docs = documents(self.tokens.encode_batch(list(texts)), self.tokens.eos_id)
        return pack(docs, self.window, stride=stride, pad_id=self.tokens.eos_id)

    def _ready(self) -> None:
        """Apply every recorded update of the society (this model's included)."""
        if self._pending is not None:
            self._waiting.flush()

    # ------------------------------------------------------------------ protocol

    def fit(self, texts: Sequence[str]) -> None:
        """Train from the initial weights on ``texts`` with the ancestor settings, now."""
        self._pending = None
        self._waiting.discard(self)
        rows = self.pack(texts)
        (self.params,) = train_stack(
            [self.initial()],
            self.shape,
            [rows],
            [texts_seed(texts)],
            self.ancestor_settings,
            self.device,
        )

    def update(self, texts: Sequence[str]) -> None:
        """Fine-tune the current weights on ``texts`` (applied lazily, batched with others)."""
        self._ready()
        if not texts:
            return
        self._pending = list(texts)
        self._waiting.add(self)

    def sample(self, request: SpeechRequest) -> list[str]:
        """Generate ``request.n`` texts (continuations only) with the KV-cache sampler.

        The request's ``rng`` draws the seed of a torch generator (one integer per call);
        ``max_tokens`` is also capped by the context.
        """
        self._ready()
        if request.n == 0:
            return []
        (ids,) = sample_ids([(self, request)])
        return self.tokens.decode_batch(ids)

    def _speech_inputs(self, request: SpeechRequest) -> tuple[list[np.ndarray], torch.Generator]:
        """Start ids of each text (end-of-text, then the prompt), and the seeded generator."""
        eos = np.array([self.tokens.eos_id], dtype=np.int64)
        if request.prompts is None:
            starts = [eos] * request.n
        else:
            encoded = self.tokens.encode_batch(request.prompts)
            starts = [np.concatenate([eos, ids]) for ids in encoded]
        generator = torch.Generator(device=self.device)
        generator.manual_seed(int(request.rng.integers(2**63 - 1)))
        return starts, generator

    @staticmethod
    def sample_together(
        models: list[TransformerLM], requests: list[SpeechRequest]
    ) -> list[list[str]]:
        """Each model's ``sample(request)``, several at once.

        On CPU one model runs per core; on an accelerator models of one shape are stacked
        into one batch (:func:`sample_stacked`). Waiting updates are trained first (all
        together); each request's own ``rng`` seeds its model's sampling, so the texts do
        not depend on the scheduling.
        """
        for model in models:
            model._ready()
        jobs = list(zip(models, requests, strict=True))
        if all(model.device.type == "cpu" for model in models):
            return _on_cpu_threads(lambda job: job[0].sample(job[1]), jobs, parallel=True)
        return sample_stacked(jobs)

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Log-likelihood (nats) of each text and its end-of-text token, and token counts.

        Texts longer than the context are scored in windows overlapping by half a context.
        """
        self._ready()
        if not texts:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        rows = self.pack(texts, stride=max(1, self.window // 2))
        stacked = {k: v[None] for k, v in self.params.items()}
        return score_packed(stacked, self.shape, rows, len(texts), self.device)

    def state(self) -> dict[str, np.ndarray]:
        """The weights as float32 arrays in ``GPT2LMHeadModel`` naming (tied head omitted)."""
        self._ready()
        return {k: v.detach().cpu().numpy().copy() for k, v in self.params.items()}

    def load(self, state: dict[str, np.ndarray]) -> None:
        """Restore weights from :meth:`state`.

        Raises:
            ValueError: names or shapes do not match this model.
        """
        expected = self.shape.param_shapes()
        got = {k: tuple(np.shape(v)) for k, v in state.items() if k in expected}
        if set(state) - set(expected) or got != expected:
            raise ValueError("state does not match this model's shape")
        self._pending = None
        self._waiting.discard(self)
        self.params = {
            k: torch.tensor(np.asarray(state[k]), dtype=torch.float32, device=self.device)
            for k in expected
        }

    def clone(self) -> TransformerLM:
        """An independent copy (same tokenizer, settings and batching pool)."""
        self._ready()
        other = object.__new__(TransformerLM)
        other.__dict__.update(self.__dict__)
        other.params = {k: v.clone() for k, v in self.params.items()}
        other._pending = None
        return other

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """Next-token logits ``(len(ids), vocab)`` of one id sequence (at most the context)."""
        self._ready()
        x = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=self.device)[None, None]
        positions = torch.arange(x.shape[-1], device=self.device)[None, None]
        stacked = {k: v[None] for k, v in self.params.items()}
        with torch.inference_mode():
            out = output_logits(stacked, hidden_states(stacked, self.shape, x, positions, None))
        return out[0, 0].cpu().numpy()

    # ------------------------------------------------------------------ export

    def hf_config(self):  # noqa: ANN201 - transformers.GPT2Config
        """The ``transformers.GPT2Config`` of this model."""
        from transformers import GPT2Config

        return GPT2Config(**self.shape.hf_config(self.tokens.eos_id, self.settings.dropout))

    def to_transformers(self):  # noqa: ANN201 - transformers.GPT2LMHeadModel
        """A ``transformers.GPT2LMHeadModel`` with this model's weights (CPU, eval mode)."""
        from transformers import GPT2LMHeadModel

        model = GPT2LMHeadModel(self.hf_config())
        weights = {k: torch.from_numpy(v) for k, v in self.state().items()}
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if unexpected or [k for k in missing if k != "lm_head.weight"]:
            raise ValueError(f"weights do not fit GPT-2: {missing} {unexpected}")
        model.tie_weights()
        return model.eval()


Job = tuple[TransformerLM, SpeechRequest]


def _stack_key(model: TransformerLM, request: SpeechRequest) -> tuple:
    """Models sampled in one stack share shape, device, tokenizer and sampling settings."""
    return (model.shape, model.device, id(model.tokens), request.sampling_key())


def sample_stacked(jobs: list[Job], size: int | None = None) -> list[list[str]]:
    """``model.sample(request)`` for every job, compatible models in stacks of ``size``.

    Each model keeps its own seeded generator, so its texts are those it would say alone
    (up to floating-point summation order). ``size`` defaults to ``agents_per_batch``.
    """
    out: list[list[str] | None] = [None] * len(jobs)
    groups: dict[tuple, list[int]] = {}
    for i, (model, request) in enumerate(jobs):
        groups.setdefault(_stack_key(model, request), []).append(i)
    for members in groups.values():
        step = size or jobs[members[0]][0].agents_per_batch
        for first in range(0, len(members), step):
            chunk = members[first : first + step]
            for i, texts in zip(chunk, _sample_chunk([jobs[i] for i in chunk]), strict=True):
                out[i] = texts
    return out  # type: ignore[return-value]


def _sample_chunk(jobs: list[Job]) -> list[list[str]]:
    """One stacked sampling pass for models of one :func:`_stack_key`."""
    first, request = jobs[0]
    if request.n == 0:
        return [[] for _ in jobs]
    return [first.tokens.decode_batch(model_ids) for model_ids in sample_ids(jobs)]


def sample_ids(jobs: list[Job]) -> list[list[np.ndarray]]:
    """Generated ids of each ``(model, request)`` job, in one stacked pass.

    The models share shape, device and tokenizer, and the requests all but ``rng`` and
    ``prompts`` (:func:`_stack_key`); each model draws its generator's seed from its own
    request's ``rng``.
    """
    first, request = jobs[0]
    inputs = [model._speech_inputs(r) for model, r in jobs]
    if len(jobs) == 1:
        stacked = {k: v[None] for k, v in first.params.items()}
    else:
        stacked = {k: torch.stack([m.params[k] for m, _ in jobs]) for k in first.params}
    return sample_stack(
        stacked,
        first.shape,
        [starts for starts, _ in inputs],
        request.max_tokens,
        SamplingSettings.of(request),
        [generator for _, generator in inputs],
        first.tokens.eos_id,
    )
