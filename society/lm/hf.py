"""Any local ``transformers`` causal LM as an agent, optionally with LoRA (``peft``).

The general path, for checkpoints that are not GPT-2 (Llama, Qwen, ...) or when
``language_model.lora`` is set. It trains with a plain AdamW loop on padded batches of
texts, scores with one forward per batch and samples with ``model.generate``, so it is
simpler and slower than the GPT-2 fast path (:mod:`society.lm.transformer`). Models are
built by :mod:`society.lm.factory`.

With LoRA, all agents share one frozen base model and each agent owns only its adapter
weights, swapped into the shared ``PeftModel`` when that agent is used: a society of many
agents costs one base model plus small adapters.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from society.lm.packing import IGNORE, documents
from society.lm.precision import autocast
from society.lm.request import SpeechRequest
from society.lm.train import TrainSettings, batch_schedule, texts_seed

if TYPE_CHECKING:
    from society.lm.tokens import Tokens


class HFCausalLM:
    """A ``transformers`` causal LM (implements :class:`society.lm.base.LanguageModel`).

    Args:
        model: the model (a ``PeftModel`` when ``lora``), on ``device``.
        tokens: its tokenizer.
        settings: training settings of each round.
        ancestor_settings: training settings of :meth:`fit`.
        context: longest id sequence trained on or scored.
        lora: whether ``model`` is a shared ``PeftModel`` and only adapters are trained.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokens: Tokens,
        settings: TrainSettings,
        ancestor_settings: TrainSettings,
        context: int,
        lora: bool,
    ) -> None:
        self.model = model
        self.tokens = tokens
        self.settings = settings
        self.ancestor_settings = ancestor_settings
        self.context = context
        self.lora = lora
        self.device = next(model.parameters()).device
        self.adapter: dict[str, torch.Tensor] | None = self._read_adapter() if lora else None
        self.initial_adapter = self.adapter

    # ------------------------------------------------------------------ adapters

    def _read_adapter(self) -> dict[str, torch.Tensor]:
        from peft import get_peft_model_state_dict

        return {k: v.detach().clone() for k, v in get_peft_model_state_dict(self.model).items()}

    def _activate(self) -> None:
        """Put this agent's adapter into the shared model."""
        if self.lora:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.model, self.adapter)

    # ------------------------------------------------------------------ batches

    def _documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        docs = documents(self.tokens.encode_batch(list(texts)), self.tokens.eos_id)
        return [d[: self.context] for d in docs]

    def _padded(self, docs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(d) for d in docs)
        ids = np.full((len(docs), width), self.tokens.eos_id, dtype=np.int64)
        mask = np.zeros((len(docs), width), dtype=np.int64)
        for i, d in enumerate(docs):
            ids[i, : len(d)] = d
            mask[i, : len(d)] = 1
        return torch.from_numpy(ids).to(self.device), torch.from_numpy(mask).to(self.device)

    def _train(self, texts: Sequence[str], settings: TrainSettings) -> None:
        docs = self._documents(texts)
        steps, batch = settings.plan(len(docs))
        schedule = batch_schedule(len(docs), steps, batch, texts_seed(texts))
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            params,
            lr=settings.learning_rate,
            weight_decay=settings.weight_decay,
            betas=(0.9, 0.95),
        )
        self.model.train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(texts_seed(texts))
            for rows in schedule:
                ids, mask = self._padded([docs[i] for i in rows])
                labels = ids.masked_fill(mask == 0, IGNORE)
                with autocast(settings.precision, self.device):
                    loss = self.model(input_ids=ids, attention_mask=mask, labels=labels).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if settings.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
                optimizer.step()
        self.model.eval()
        if self.lora:
            self.adapter = self._read_adapter()

    # ------------------------------------------------------------------ protocol

    def fit(self, texts: Sequence[str]) -> None:
        """Train the ancestor (all weights, or a fresh adapter) on ``texts``."""
        if self.lora:
            self.adapter = self.initial_adapter
        self._activate()
        self._train(texts, self.ancestor_settings)

    def update(self, texts: Sequence[str]) -> None:
        """Fine-tune the current weights (or adapter) on ``texts``."""
        if texts:
            self._activate()
            self._train(texts, self.settings)

    def sample(self, request: SpeechRequest) -> list[str]:
        """Generate ``request.n`` continuations with ``model.generate`` (seeded from its rng)."""
        n, prompts = request.n, request.prompts
        if n == 0:
            return []
        self._activate()
        eos = self.tokens.eos_id
        encoded = self.tokens.encode_batch(prompts) if prompts is not None else [[]] * n
        starts = [[eos, *list(ids)[-(self.context // 2) :]] for ids in encoded]
        width = max(len(s) for s in starts)
        ids = torch.tensor([[eos] * (width - len(s)) + s for s in starts], device=self.device)
        mask = torch.tensor(
            [[0] * (width - len(s)) + [1] * len(s) for s in starts], device=self.device
        )
        seed = int(request.rng.integers(2**63 - 1))
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=request.temperature,
                top_k=request.top_k,
                top_p=request.top_p,
                min_p=request.min_p or None,
                repetition_penalty=request.repetition_penalty,
                max_new_tokens=max(1, min(request.max_tokens, self.context - width)),
                pad_token_id=eos,
                eos_token_id=eos,
            )
        generated = out[:, width:].cpu().numpy()
        texts = []
        for row in generated:
            stop = np.flatnonzero(row == eos)
            texts.append(row[: stop[0]] if len(stop) else row)
        return self.tokens.decode_batch(texts)

    @torch.inference_mode()
    def score(self, texts: Sequence[str], batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Log-likelihood of each text (truncated to the context) and scored token counts."""
        self._activate()
        docs = self._documents(texts)
        loglik = np.zeros(len(docs))
        counts = np.array([len(d) - 1 for d in docs], dtype=np.int64)
        for start in range(0, len(docs), batch):
            ids, mask = self._padded(docs[start : start + batch])
            logp = self.model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
            picked = logp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0] * mask[:, 1:]
            loglik[start : start + batch] = picked.sum(1).double().cpu().numpy()
        return loglik, counts

    def state(self) -> dict[str, np.ndarray]:
        """The adapter (LoRA) or all weights, as float32 arrays."""
        weights = self.adapter if self.lora else self.model.state_dict()
        return {k: v.detach().float().cpu().numpy().copy() for k, v in weights.items()}

    def load(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state`.

        Raises:
            ValueError: names or shapes do not match.
        """
        tensors = {k: torch.tensor(np.asarray(v), device=self.device) for k, v in state.items()}
        reference = self.adapter if self.lora else self.model.state_dict()
        shapes = {k: tuple(v.shape) for k, v in reference.items()}
        if {k: tuple(v.shape) for k, v in tensors.items()} != shapes:
            raise ValueError("state does not match this model's shape")
        if self.lora:
            self.adapter = tensors
        else:
            self.model.load_state_dict(tensors)

    def clone(self) -> HFCausalLM:
        """An independent copy (LoRA: a copy of the adapter, the base stays shared)."""
        other = object.__new__(HFCausalLM)
        other.__dict__.update(self.__dict__)
        if self.lora:
            other.adapter = {k: v.clone() for k, v in self.adapter.items()}
        else:
            other.model = copy.deepcopy(self.model)
        return other

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """Next-token logits ``(len(ids), vocab)`` of one id sequence."""
        self._activate()
        with torch.inference_mode():
            x = torch.as_tensor(list(ids), device=self.device)[None]
            return self.model(input_ids=x).logits[0].float().cpu().numpy()

    def to_transformers(self):  # noqa: ANN201 - transformers.PreTrainedModel
        """A plain ``transformers`` model with these weights (LoRA merged in), CPU."""
        self._activate()
        model = copy.deepcopy(self.model)
        if self.lora:
            model = model.merge_and_unload()
        return model.to("cpu").eval()
