"""A population of LoRA agents on one shared frozen base, trained and sampled in batches.

:class:`LoRAPopulation` holds one ``transformers`` causal LM (any local checkpoint, or a
GPT-2 from the shape keys), frozen, with its targeted linear layers wrapped for per-row
adapters (:mod:`society.lm.lora_layers`). Each :class:`LoRAAgent` (a
:class:`society.lm.base.LanguageModel`) owns only its adapter and its AdamW state, so an
added agent costs three times its adapter's size.

Learning is deferred as in :mod:`society.lm.transformer`: :meth:`LoRAAgent.update` records
the texts, and the first later call that needs weights trains every waiting agent of the
population at once, ``agents_per_pass`` agents per pass (:func:`lora_train.train_adapters`).
Sampling runs every agent's rows in one KV-cached batch, each row with its agent's
adapter; each agent's uniforms come from its own seeded generator, so what an agent says
and learns is what it would alone (up to float summation order).

Generation 0 (:meth:`LoRAAgent.fit`) ends with fresh AdamW state; later updates keep
their agent's moments from round to round. The base runs in eval mode (no dropout).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from society.lm.lora_layers import Adapter, Router, peft_key, routed, targets, wrap
from society.lm.lora_train import Moments, padded, train_adapters
from society.lm.packing import documents
from society.lm.request import SpeechRequest
from society.lm.sampler import SamplingSettings, next_tokens
from society.lm.tokens import Tokens
from society.lm.train import TrainSettings, texts_seed

ROW_BYTES_FACTOR = 24
"""Activation bytes per position and hidden unit per layer assumed when sizing CUDA passes."""


@dataclass(frozen=True)
class LoRASettings:
    """The adapters' shape: rank, ``alpha`` (scale ``alpha / rank``) and target layers."""

    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = ()
    init_seed: int = 0


class LoRAPopulation:
    """One frozen base and the batched passes of all its agents.

    Args:
        model: the base ``transformers`` causal LM (frozen and wrapped here), on its device.
        tokens: its tokenizer.
        lora: the adapters' shape.
        settings: training settings of each round.
        ancestor_settings: training settings of generation 0.
        context: longest id sequence trained on, scored or sampled.
        agents_per_pass: most agents in one training or sampling pass (0: chosen from
            free memory on CUDA, all on CPU).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokens: Tokens,
        lora: LoRASettings,
        settings: TrainSettings,
        ancestor_settings: TrainSettings,
        context: int,
        agents_per_pass: int = 0,
    ) -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokens = tokens
        self.lora = lora
        self.settings = settings
        self.ancestor_settings = ancestor_settings
        self.context = context
        self.device = next(model.parameters()).device
        self.layers = targets(model, list(lora.targets))
        self.router = Router(scale=lora.alpha / lora.rank)
        wrap(model, self.layers, self.router)
        self.agents_per_pass = agents_per_pass
        self.waiting: weakref.WeakValueDictionary[int, LoRAAgent] = weakref.WeakValueDictionary()
        self.initial = self._initial_adapter()

    def _initial_adapter(self) -> Adapter:
        """Peft's initialisation: A Kaiming-uniform (bound 1/sqrt(in)), B zero; seeded."""
        generator = torch.Generator().manual_seed(self.lora.init_seed)
        adapter = {}
        for name, (fan_in, fan_out) in self.layers.items():
            bound = 1.0 / fan_in**0.5
            a = (torch.rand(self.lora.rank, fan_in, generator=generator) * 2 - 1) * bound
            adapter[name] = (
                a.to(self.device),
                torch.zeros(fan_out, self.lora.rank, device=self.device),
            )
        return adapter

    def agent(self) -> LoRAAgent:
        """A new agent with the initial adapter (the bare base's outputs: B is zero)."""
        return LoRAAgent(self, {k: (a.clone(), b.clone()) for k, (a, b) in self.initial.items()})

    # ------------------------------------------------------------------ sizing

    def adapter_bytes(self) -> int:
        """Bytes of one adapter (its AdamW state is twice this)."""
        return sum(
            a.numel() * a.element_size() + b.numel() * b.element_size()
            for a, b in self.initial.values()
        )

    def base_bytes(self) -> int:
        """Bytes of the frozen base's weights."""
        return sum(p.numel() * p.element_size() for p in self.model.parameters())

    def pass_size(self, rows_per_agent: int, width: int) -> int:
        """Agents per pass: the configured number, all on CPU, else what free CUDA memory holds."""
        if self.agents_per_pass:
            return self.agents_per_pass
        if self.device.type != "cuda":
            return 1 << 30
        free, _ = torch.cuda.mem_get_info(self.device)
        config = self.model.config
        hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 768))
        layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layer", 12))
        vocab = int(config.vocab_size)
        per_row = width * (layers * hidden * ROW_BYTES_FACTOR + vocab * 12)
        return max(
            1, int(0.6 * free) // max(1, per_row * rows_per_agent + 3 * self.adapter_bytes())
        )

    # ------------------------------------------------------------------ data

    def documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        """``[EOS] ids [EOS]`` per text, cut to the context."""
        docs = documents(self.tokens.encode_batch(list(texts)), self.tokens.eos_id)
        return [d[: self.context] for d in docs]

    # ------------------------------------------------------------------ training

    def flush(self) -> None:
        """Train every waiting agent, agents with the same plan together."""
        agents = [a for a in self.waiting.values() if a._pending is not None]
        self.waiting.clear()
        jobs = []
        for agent in agents:
            texts, agent._pending = agent._pending, None
            jobs.append((agent, self.documents(texts), texts_seed(texts)))
        self.train(jobs, self.settings)

    def train(
        self, jobs: list[tuple[LoRAAgent, list[np.ndarray], int]], settings: TrainSettings
    ) -> None:
        """Train ``(agent, documents, seed)`` jobs in passes of agents with the same plan."""
        groups: dict[tuple[int, int], list] = {}
        for job in jobs:
            groups.setdefault(settings.plan(len(job[1])), []).append(job)
        for (_, batch), members in groups.items():
            size = self.pass_size(batch, self.context)
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                adapters, moments = train_adapters(
                    self.model,
                    self.router,
                    [agent.adapter for agent, _, _ in chunk],
                    [agent.moments for agent, _, _ in chunk],
                    [docs for _, docs, _ in chunk],
                    [seed for _, _, seed in chunk],
                    settings,
                    self.tokens.eos_id,
                )
                for (agent, _, _), adapter, moment in zip(chunk, adapters, moments, strict=True):
                    agent.adapter, agent.moments = adapter, moment

    # ------------------------------------------------------------------ sampling

    def sample(self, jobs: list[tuple[LoRAAgent, SpeechRequest]]) -> list[list[str]]:
        """Each agent's texts for its request; agents with equal sampling keys share passes."""
        self.flush()
        out: list[list[str] | None] = [None] * len(jobs)
        groups: dict[tuple, list[int]] = {}
        for i, (_, request) in enumerate(jobs):
            groups.setdefault(request.sampling_key(), []).append(i)
        for members in groups.values():
            request = jobs[members[0]][1]
            size = self.pass_size(max(1, request.n), self.context)
            for start in range(0, len(members), size):
                chunk = [jobs[i] for i in members[start : start + size]]
                for i, ids in zip(
                    members[start : start + size], self._sample_chunk(chunk), strict=True
                ):
                    out[i] = self.tokens.decode_batch(ids)
        return out  # type: ignore[return-value]

    def _starts(self, request: SpeechRequest) -> list[np.ndarray]:
        eos = np.array([self.tokens.eos_id], dtype=np.int64)
        if request.prompts is None:
            return [eos] * request.n
        half = self.context // 2
        encoded = self.tokens.encode_batch(request.prompts)
        return [np.concatenate([eos, ids[-half:] if half else ids[:0]]) for ids in encoded]

    @torch.inference_mode()
    def _sample_chunk(self, jobs: list[tuple[LoRAAgent, SpeechRequest]]) -> list[list[np.ndarray]]:
        """One KV-cached batch: every prompt of every agent, each row with its agent's adapter."""
        request = jobs[0][1]
        k, n, eos = len(jobs), request.n, self.tokens.eos_id
        starts = [s for _, r in jobs for s in self._starts(r)]
        seeds = [int(r.rng.integers(2**63 - 1)) for _, r in jobs]
        if n == 0:
            return [[] for _ in jobs]
        width = max(len(s) for s in starts)
        steps = max(0, min(request.max_tokens, self.context - width + 1))
        if steps == 0:
            return [[np.zeros(0, dtype=np.int64)] * n for _ in jobs]
        device = self.device
        ids = torch.full((k * n, width), eos, dtype=torch.long, device=device)
        mask = torch.zeros((k * n, width), dtype=torch.long, device=device)
        for i, s in enumerate(starts):
            ids[i, width - len(s) :] = torch.as_tensor(s, device=device)
            mask[i, width - len(s) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        uniforms = torch.cat(
            [
                torch.rand(
                    steps, n, generator=torch.Generator(device=device).manual_seed(s), device=device
                )
                for s in seeds
            ],
            dim=1,
        )  # (steps, k * n), agent-major like the rows
        settings = SamplingSettings.of(request)
        seen = None
        if settings.repetition_penalty != 1:
            seen = torch.zeros(k * n, self._vocab(), dtype=torch.bool, device=device)
            seen.scatter_(1, ids, mask.bool())
        out = torch.full((k * n, steps), eos, dtype=torch.long, device=device)
        done = torch.zeros(k * n, dtype=torch.bool, device=device)
        weights = {
            name: (
                torch.stack([a.adapter[name][0] for a, _ in jobs]),
                torch.stack([a.adapter[name][1] for a, _ in jobs]),
            )
            for name in self.layers
        }
        cache = None
        with routed(self.router, weights):
            for step in range(steps):
                result = self.model(
                    input_ids=ids,
                    attention_mask=mask,
                    position_ids=positions,
                    past_key_values=cache,
                    use_cache=True,
                )
                cache = result.past_key_values
                scores = result.logits[:, -1].float()
                token = next_tokens(scores, seen, settings, uniforms[step][:, None])
                token = token.masked_fill_(done, eos)
                out[:, step] = token
                done |= token == eos
                if bool(done.all()):
                    break
                if seen is not None:
                    seen[torch.arange(k * n, device=device), token] = True
                ids = token[:, None]
                positions = positions[:, -1:] + 1
                mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
        tokens = out.cpu().numpy()
        texts = []
        for row in tokens:
            stop = np.flatnonzero(row == eos)
            texts.append(row[: stop[0]] if len(stop) else row)
        return [texts[i * n : (i + 1) * n] for i in range(k)]

    def _vocab(self) -> int:
        return int(self.model.get_output_embeddings().weight.shape[0])

    # ------------------------------------------------------------------ scoring

    @torch.inference_mode()
    def score(
        self, agent: LoRAAgent, texts: Sequence[str], batch: int = 32
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log-likelihood of each text (cut to the context) under ``agent``, and token counts."""
        docs = self.documents(texts)
        loglik = np.zeros(len(docs))
        counts = np.array([len(d) - 1 for d in docs], dtype=np.int64)
        for start in range(0, len(docs), batch):
            ids, labels = padded(docs[start : start + batch], self.tokens.eos_id, self.device)
            logp = self.logits_of(agent, ids).float().log_softmax(-1)
            keep = labels[:, 1:] >= 0
            picked = logp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0] * keep
            loglik[start : start + batch] = picked.sum(1).double().cpu().numpy()
        return loglik, counts

    def logits_of(self, agent: LoRAAgent, ids: torch.Tensor) -> torch.Tensor:
        """Logits of ``ids`` ``(rows, width)`` with ``agent``'s adapter."""
        weights = {k: (a[None], b[None]) for k, (a, b) in agent.adapter.items()}
        with routed(self.router, weights):
            return self.model(input_ids=ids).logits


class LoRAAgent:
    """One agent of a :class:`LoRAPopulation` (implements :class:`society.lm.base.LanguageModel`).

    Args:
        population: the shared base and its batched passes.
        adapter: this agent's adapter (module name -> A, B).
    """

    def __init__(self, population: LoRAPopulation, adapter: Adapter) -> None:
        self.population = population
        self.adapter = adapter
        self.moments = Moments.zeros(adapter)
        self._pending: list[str] | None = None

    @property
    def tokens(self) -> Tokens:
        """The base checkpoint's tokenizer."""
        return self.population.tokens

    def _ready(self) -> None:
        if self._pending is not None:
            self.population.flush()

    def fit(self, texts: Sequence[str]) -> None:
        """Train a fresh adapter on ``texts`` with the ancestor settings, now; AdamW state reset."""
        population = self.population
        self._pending = None
        population.waiting.pop(id(self), None)
        fresh = population.agent()
        self.adapter, self.moments = fresh.adapter, fresh.moments
        population.train(
            [(self, population.documents(texts), texts_seed(texts))], population.ancestor_settings
        )
        self.moments = Moments.zeros(self.adapter)

    def update(self, texts: Sequence[str]) -> None:
        """Fine-tune the adapter on ``texts`` (applied lazily, batched with the population)."""
        self._ready()
        if not texts:
            return
        self._pending = list(texts)
        self.population.waiting[id(self)] = self

    def sample(self, request: SpeechRequest) -> list[str]:
        """Generate ``request.n`` continuations (KV-cached, seeded from the request's rng)."""
        return self.population.sample([(self, request)])[0]

    @staticmethod
    def sample_together(models: list[LoRAAgent], requests: list[SpeechRequest]) -> list[list[str]]:
        """Each agent's ``sample(request)``, agents of one population in shared batches."""
        out: list[list[str] | None] = [None] * len(models)
        groups: dict[int, list[int]] = {}
        for i, model in enumerate(models):
            groups.setdefault(id(model.population), []).append(i)
        for members in groups.values():
            population = models[members[0]].population
            said = population.sample([(models[i], requests[i]) for i in members])
            for i, texts in zip(members, said, strict=True):
                out[i] = texts
        return out  # type: ignore[return-value]

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Log-likelihood (nats) of each text with its end-of-text token, and token counts."""
        self._ready()
        if not texts:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        return self.population.score(self, texts)

    def state(self) -> dict[str, np.ndarray]:
        """The adapter in peft's naming (``base_model.model.<layer>.lora_A.weight``), float32."""
        self._ready()
        out = {}
        for name, (a, b) in self.adapter.items():
            out[peft_key(name, "A")] = a.detach().float().cpu().numpy().copy()
            out[peft_key(name, "B")] = b.detach().float().cpu().numpy().copy()
        return out

    def load(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state` (AdamW state starts fresh).

        Raises:
            ValueError: names or shapes do not match.
        """
        expected = {}
        for name, (a, b) in self.population.initial.items():
            expected[peft_key(name, "A")] = tuple(a.shape)
            expected[peft_key(name, "B")] = tuple(b.shape)
        if {k: tuple(np.shape(v)) for k, v in state.items()} != expected:
            raise ValueError("state does not match this model's shape")
        self._pending = None
        self.population.waiting.pop(id(self), None)
        device = self.population.device

        def tensor(key: str) -> torch.Tensor:
            return torch.tensor(np.asarray(state[key]), dtype=torch.float32, device=device)

        self.adapter = {
            n: (tensor(peft_key(n, "A")), tensor(peft_key(n, "B"))) for n in self.population.layers
        }
        self.moments = Moments.zeros(self.adapter)

    def clone(self) -> LoRAAgent:
        """An independent copy: its own adapter and AdamW state, the same base."""
        self._ready()
        other = LoRAAgent(
            self.population, {k: (a.clone(), b.clone()) for k, (a, b) in self.adapter.items()}
        )
        other.moments = self.moments.clone()
        return other

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """Next-token logits ``(len(ids), vocab)`` of one id sequence."""
        self._ready()
        x = torch.as_tensor(list(ids), dtype=torch.long, device=self.population.device)[None]
        with torch.inference_mode():
            return self.population.logits_of(self, x)[0].float().cpu().numpy()

    def to_transformers(self):  # noqa: ANN201 - transformers.PreTrainedModel
        """A plain ``transformers`` model with this adapter merged in (float32, CPU, eval)."""
        import copy

        population = self.population
        self._ready()
        model = copy.deepcopy(population.model).float().cpu()
        scale = population.router.scale
        with torch.no_grad():
            for name, (a, b) in self.adapter.items():
                parent_name, _, child = name.rpartition(".")
                parent = model.get_submodule(parent_name) if parent_name else model
                layer = getattr(parent, child).base
                delta = scale * (b.float().cpu() @ a.float().cpu())  # (out, in)
                layer.weight += delta if isinstance(layer, torch.nn.Linear) else delta.T
                setattr(parent, child, layer)
        return model.requires_grad_(True).eval()

    def save_pretrained(self, directory: str | Path) -> None:
        """Write the adapter as a peft LoRA adapter (``PeftModel.from_pretrained`` reads it)."""
        from peft import LoraConfig
        from safetensors.numpy import save_file

        population = self.population
        config = LoraConfig(
            r=population.lora.rank,
            lora_alpha=population.lora.alpha,
            target_modules=sorted(population.layers),
            lora_dropout=0.0,
            task_type="CAUSAL_LM",
            fan_in_fan_out=population.model.config.model_type == "gpt2",  # Conv1D layers
        )
        Path(directory).mkdir(parents=True, exist_ok=True)
        config.save_pretrained(str(directory))
        save_file(self.state(), str(Path(directory) / "adapter_model.safetensors"))

    def bytes(self) -> int:
        """Bytes this agent holds: its adapter and AdamW moments."""
        tensors = [
            *self.adapter.values(),
            *self.moments.first.values(),
            *self.moments.second.values(),
        ]
        return sum(t.numel() * t.element_size() for pair in tensors for t in pair)
