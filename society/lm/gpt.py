"""A GPT-2 written for stacks of models: every parameter has a leading agent axis.

``A`` agents with the same shape are trained, scored and sampled in one pass: linear
layers are batched matmuls (``baddbmm``) over the agent axis, attention folds agents into
the batch. With ``A = 1`` it is one ordinary GPT-2. Parameter names and layouts are those
of ``transformers.GPT2LMHeadModel`` (``Conv1D`` weights are ``(in, out)``, the output layer
is tied to the token embedding, GELU is exact or tanh-approximated (``gelu_new``), LayerNorm
eps is 1e-5), so one agent's slice is a GPT-2 checkpoint that plain ``transformers`` loads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

Params = dict[str, Tensor]
LN_EPS = 1e-5
ACTIVATIONS = {"gelu": "none", "gelu_new": "tanh"}
"""GPT-2 ``activation_function`` names -> ``torch.nn.functional.gelu`` approximation."""


@dataclass(frozen=True)
class GPTShape:
    """The shape of one GPT-2 model.

    Attributes:
        vocab: vocabulary size.
        context: maximum positions.
        layers: transformer blocks.
        width: embedding width.
        heads: attention heads (``width`` must be a multiple).
        activation: ``"gelu"`` (exact, erf) or ``"gelu_new"`` (GPT-2's tanh approximation,
            about three times slower on CPU).
    """

    vocab: int
    context: int
    layers: int
    width: int
    heads: int
    activation: str = "gelu"

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not one of {list(ACTIVATIONS)}")

    def hf_config(self, eos_id: int, dropout: float = 0.0) -> dict:
        """Keyword arguments for ``transformers.GPT2Config``."""
        return {
            "vocab_size": self.vocab,
            "n_positions": self.context,
            "n_embd": self.width,
            "n_layer": self.layers,
            "n_head": self.heads,
            "activation_function": self.activation,
            "resid_pdrop": dropout,
            "embd_pdrop": dropout,
            "attn_pdrop": dropout,
            "layer_norm_epsilon": LN_EPS,
            "bos_token_id": eos_id,
            "eos_token_id": eos_id,
            "pad_token_id": eos_id,
            "tie_word_embeddings": True,
        }

    @classmethod
    def from_hf_config(cls, config) -> GPTShape:  # noqa: ANN001 - transformers.GPT2Config
        """The shape of a ``transformers.GPT2Config``."""
        return cls(
            vocab=config.vocab_size,
            context=config.n_positions,
            layers=config.n_layer,
            width=config.n_embd,
            heads=config.n_head,
            activation=config.activation_function,
        )

    def as_dict(self) -> dict[str, int]:
        """Plain dict (for hashing and metadata)."""
        return asdict(self)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of one model's parameters, in ``GPT2LMHeadModel`` naming."""
        d, out = self.width, {}
        out["transformer.wte.weight"] = (self.vocab, d)
        out["transformer.wpe.weight"] = (self.context, d)
        for i in range(self.layers):
            p = f"transformer.h.{i}."
            out[p + "ln_1.weight"] = (d,)
            out[p + "ln_1.bias"] = (d,)
            out[p + "attn.c_attn.weight"] = (d, 3 * d)
            out[p + "attn.c_attn.bias"] = (3 * d,)
            out[p + "attn.c_proj.weight"] = (d, d)
            out[p + "attn.c_proj.bias"] = (d,)
            out[p + "ln_2.weight"] = (d,)
            out[p + "ln_2.bias"] = (d,)
            out[p + "mlp.c_fc.weight"] = (d, 4 * d)
            out[p + "mlp.c_fc.bias"] = (4 * d,)
            out[p + "mlp.c_proj.weight"] = (4 * d, d)
            out[p + "mlp.c_proj.bias"] = (d,)
        out["transformer.ln_f.weight"] = (d,)
        out["transformer.ln_f.bias"] = (d,)
        return out

    def n_params(self) -> int:
        """Parameters of one model (the tied output layer counted once)."""
        return sum(math.prod(s) for s in self.param_shapes().values())

    def flops_per_token(self, attended: float) -> float:
        """Training FLOPs per token: 6 x matmul parameters + attention (PaLM appendix B).

        Args:
            attended: mean number of keys each query attends to.
        """
        d = self.width
        matmul = self.layers * 12 * d * d + self.vocab * d
        return 6.0 * matmul + 12.0 * self.layers * d * attended


def init_params(shape: GPTShape, generator: torch.Generator) -> Params:
    """GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 layers)."""
    out: Params = {}
    for name, size in shape.param_shapes().items():
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or "ln_f.weight" in name:
            out[name] = torch.ones(size)
        elif name.endswith(".bias"):
            out[name] = torch.zeros(size)
        else:
            std = 0.02 / math.sqrt(2 * shape.layers) if name.endswith("c_proj.weight") else 0.02
            out[name] = torch.randn(size, generator=generator) * std
    return out


def is_decayed(name: str) -> bool:
    """Weight decay applies to matrices, not to biases and LayerNorm gains."""
    return name.endswith(".weight") and ".ln_" not in name


def _layer_norm(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    if weight.dim() == 1:
        return F.layer_norm(x, x.shape[-1:], weight, bias, LN_EPS)
    if weight.shape[0] == 1:
        return F.layer_norm(x, x.shape[-1:], weight[0], bias[0], LN_EPS)
    return torch.addcmul(bias[:, None], F.layer_norm(x, x.shape[-1:], eps=LN_EPS), weight[:, None])


def _linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    if weight.dim() == 2:  # one model's own weights, ``x`` without the model axis
        return torch.addmm(bias, x, weight)
    if weight.shape[0] == 1:  # one model: a plain matmul dispatches faster
        return torch.addmm(bias[0], x[0], weight[0]).unsqueeze(0)
    return torch.baddbmm(bias[:, None], x, weight)


def single(params: Params) -> Params:
    """One model's parameters without the model axis (``A = 1``).

    Every function here takes them and skips the per-operation indexing that a stack of
    one costs (about 0.1 ms a decoding step).
    """
    if params["transformer.wte.weight"].dim() == 2:
        return params
    if params["transformer.wte.weight"].shape[0] != 1:
        raise ValueError("single() needs a stack of one model")
    return {k: v[0] for k, v in params.items()}


def _attend_math(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout: float) -> Tensor:
    """Attention as matmuls with a float32 softmax (bf16 autocast on CPU).

    PyTorch's fused CPU attention is slow in bfloat16 for short contexts (its backward
    pass most of all); two batched matmuls in bfloat16 around a float32 softmax are not.
    """
    t, keys = q.shape[-2], k.shape[-2]
    if mask is None:
        mask = torch.ones(t, keys, dtype=torch.bool, device=q.device).tril(keys - t)
    scores = (q @ k.transpose(-1, -2)).float().mul_(1.0 / math.sqrt(q.shape[-1]))
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return _dropout(weights, dropout).to(v.dtype) @ v


def _attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout: float) -> Tensor:
    """Causal (or ``mask``-ed) attention of ``q`` ``(rows, heads, T, head width)``."""
    if q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        return _attend_math(q, k, v, mask, dropout)
    causal = mask is None and q.shape[-2] > 1
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=causal
    )


def _attend_one(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    """Attention of one query per sequence (decoding) as two batched matmuls.

    Args:
        q: ``(rows, heads, 1, head width)``.
        k: keys ``(rows * heads, keys, head width)`` (a view into the cache).
        v: values, same shape as ``k``.
        mask: ``(rows, 1, 1, keys)`` or None.

    Returns:
        ``(rows, heads, 1, head width)``.
    """
    rows, h, _, hd = q.shape
    scores = torch.bmm(q.reshape(rows * h, 1, hd), k.transpose(1, 2)).mul_(1.0 / math.sqrt(hd))
    if mask is not None:
        scores = scores.view(rows, h, -1).masked_fill_(~mask[:, :, 0], float("-inf"))
    weights = torch.softmax(scores.view(rows * h, 1, -1), dim=-1)
    return torch.bmm(weights, v).view(rows, h, 1, hd)


def embed(params: Params, ids: Tensor, positions: Tensor) -> Tensor:
    """Token plus position embeddings of ``ids`` ``(A, N)``: ``(A, N, width)``.

    With :func:`single` parameters the result has no model axis: ``(N, width)``.
    """
    wte, wpe = params["transformer.wte.weight"], params["transformer.wpe.weight"]
    if wte.dim() == 2:
        return F.embedding(ids.reshape(-1), wte) + F.embedding(positions.reshape(-1), wpe)
    if wte.shape[0] == 1:
        return (F.embedding(ids[0], wte[0]) + F.embedding(positions[0], wpe[0])).unsqueeze(0)
    a = torch.arange(wte.shape[0], device=ids.device)[:, None]
    tok = F.embedding(ids + a * wte.shape[1], wte.flatten(0, 1))
    pos = F.embedding(positions + a * wpe.shape[1], wpe.flatten(0, 1))
    return tok + pos


@dataclass
class KVCache:
    """Preallocated keys and values: per layer ``(A * N, heads, length, head width)``."""

    keys: list[Tensor]
    values: list[Tensor]

    @classmethod
    def empty(cls, shape: GPTShape, rows: int, length: int, device: torch.device) -> KVCache:
        """A cache for ``rows`` sequences of up to ``length`` positions."""
        size = (rows, shape.heads, length, shape.width // shape.heads)
        make = [torch.empty(size, device=device) for _ in range(2 * shape.layers)]
        return cls(make[: shape.layers], make[shape.layers :])


def _dropout(x: Tensor, p: float) -> Tensor:
    return F.dropout(x, p, training=True) if p > 0 else x


def hidden_states(
    params: Params,
    shape: GPTShape,
    ids: Tensor,
    positions: Tensor,
    mask: Tensor | None,
    *,
    dropout: float = 0.0,
    cache: KVCache | None = None,
    start: int = 0,
) -> Tensor:
    """Final hidden states of ``ids`` ``(A, B, T)``.

    Args:
        params: stacked parameters (leading axis ``A``).
        shape: the model shape.
        ids: input ids ``(A, B, T)``.
        positions: position ids, same shape.
        mask: boolean attention mask ``(A * B, 1, T, keys)`` (True = may attend), or None
            for plain causal attention (or attention to the whole cache when ``T = 1``).
        dropout: dropout probability (training only).
        cache: if given, keys and values of these positions are written at
            ``start : start + T`` and queries attend to ``0 : start + T``.
        start: where this chunk sits in the cache.

    Returns:
        ``(A, B, T, width)``.
    """
    a, b, t = ids.shape
    d, h = shape.width, shape.heads
    x = _dropout(embed(params, ids.reshape(a, b * t), positions.reshape(a, b * t)), dropout)
    approximate = ACTIVATIONS[shape.activation]
    for i in range(shape.layers):
        p = f"transformer.h.{i}."
        y = _layer_norm(x, params[p + "ln_1.weight"], params[p + "ln_1.bias"])
        qkv = _linear(y, params[p + "attn.c_attn.weight"], params[p + "attn.c_attn.bias"])
        q, k, v = qkv.view(a * b, t, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind()
        if cache is not None:
            stop = start + t
            cache.keys[i][:, :, start:stop] = k
            cache.values[i][:, :, start:stop] = v
            k, v = cache.keys[i][:, :, :stop], cache.values[i][:, :, :stop]
        if t == 1 and cache is not None:  # decoding: heads' outputs are already in order
            rows = a * b * h
            y = _attend_one(q, k.reshape(rows, -1, d // h), v.reshape(rows, -1, d // h), mask)
            y = y.view(x.shape)
        else:
            y = _attend(q, k, v, mask, dropout).transpose(1, 2).reshape(x.shape)
        y = _linear(y, params[p + "attn.c_proj.weight"], params[p + "attn.c_proj.bias"])
        x = x + _dropout(y, dropout)
        y = _layer_norm(x, params[p + "ln_2.weight"], params[p + "ln_2.bias"])
        y = F.gelu(
            _linear(y, params[p + "mlp.c_fc.weight"], params[p + "mlp.c_fc.bias"]),
            approximate=approximate,
        )
        y = _linear(y, params[p + "mlp.c_proj.weight"], params[p + "mlp.c_proj.bias"])
        x = x + _dropout(y, dropout)
    x = _layer_norm(x, params["transformer.ln_f.weight"], params["transformer.ln_f.bias"])
    return x.view(a, b, t, d)


BLOCK_PARAMS = (
    "ln_1.weight",
    "ln_1.bias",
    "attn.c_attn.weight",
    "attn.c_attn.bias",
    "attn.c_proj.weight",
    "attn.c_proj.bias",
    "ln_2.weight",
    "ln_2.bias",
    "mlp.c_fc.weight",
    "mlp.c_fc.bias",
    "mlp.c_proj.weight",
    "mlp.c_proj.bias",
)
"""One block's parameters, in the order :func:`decode_one` unpacks them."""


def block_weights(params: Params, layers: int) -> list[tuple[Tensor, ...]]:
    """Each block's :data:`BLOCK_PARAMS` (looked up once, not once per decoding step)."""
    return [tuple(params[f"transformer.h.{i}.{n}"] for n in BLOCK_PARAMS) for i in range(layers)]


def decode_one(
    params: Params,
    shape: GPTShape,
    blocks: list[tuple[Tensor, ...]],
    ids: Tensor,
    positions: Tensor,
    cache: KVCache,
    start: int,
    mask: Tensor | None,
) -> Tensor:
    """Logits ``(rows, vocab)`` of one new token per sequence of one model.

    The arithmetic of :func:`hidden_states` then :func:`logits` for :func:`single`
    parameters and ``T = 1``, bit for bit, written flat: sampling calls it once per token,
    and for a small model the general function's bookkeeping is a sizeable share of a step.

    Args:
        params: one model's parameters (:func:`single`).
        shape: its shape.
        blocks: :func:`block_weights` of ``params``.
        ids: the new token of each sequence ``(rows,)``.
        positions: their position ids ``(rows,)``.
        cache: keys and values, written at ``start``.
        start: the position of the new tokens in the cache.
        mask: ``(rows, 1, 1, start + 1)`` cache positions that may be attended to, or None.
    """
    d, h = shape.width, shape.heads
    wte = params["transformer.wte.weight"]
    x = F.embedding(ids, wte) + F.embedding(positions, params["transformer.wpe.weight"])
    rows, stop, approximate = x.shape[0], start + 1, ACTIVATIONS[shape.activation]
    for i, (
        ln1_w,
        ln1_b,
        qkv_w,
        qkv_b,
        att_w,
        att_b,
        ln2_w,
        ln2_b,
        fc_w,
        fc_b,
        out_w,
        out_b,
    ) in enumerate(blocks):
        y = F.layer_norm(x, (d,), ln1_w, ln1_b, LN_EPS)
        q, k, v = torch.addmm(qkv_b, y, qkv_w).view(rows, 3, h, 1, d // h).unbind(1)
        keys, values = cache.keys[i], cache.values[i]
        keys[:, :, start:stop] = k
        values[:, :, start:stop] = v
        flat_keys = keys.view(rows * h, -1, d // h)[:, :stop]
        y = _attend_one(q, flat_keys, values.view(rows * h, -1, d // h)[:, :stop], mask)
        x = x + torch.addmm(att_b, y.view(rows, d), att_w)
        y = F.layer_norm(x, (d,), ln2_w, ln2_b, LN_EPS)
        y = F.gelu(torch.addmm(fc_b, y, fc_w), approximate=approximate)
        x = x + torch.addmm(out_b, y, out_w)
    final_w, final_b = params["transformer.ln_f.weight"], params["transformer.ln_f.bias"]
    return F.linear(F.layer_norm(x, (d,), final_w, final_b, LN_EPS), wte)


def logits(params: Params, hidden: Tensor) -> Tensor:
    """Output logits ``(A, ..., vocab)`` of hidden states ``(A, ..., width)`` (tied weights)."""
    wte = params["transformer.wte.weight"]
    if wte.dim() == 2 or wte.shape[0] == 1:  # one model: a plain matmul dispatches faster
        flat = hidden.reshape(-1, hidden.shape[-1])
        return F.linear(flat, wte.view(wte.shape[-2:])).view(*hidden.shape[:-1], -1)
    flat = hidden.reshape(hidden.shape[0], -1, hidden.shape[-1])
    return torch.bmm(flat, wte.transpose(1, 2)).view(*hidden.shape[:-1], wte.shape[1])


def document_mask(docs: Tensor) -> Tensor:
    """Causal attention within documents: ``docs`` ``(..., T)`` -> ``(prod(...), 1, T, T)``.

    Padding (document -1) attends to itself only, so no row of the mask is empty.
    """
    t = docs.shape[-1]
    flat = docs.reshape(-1, t)
    same = flat[:, :, None] == flat[:, None, :]
    causal = torch.ones(t, t, dtype=torch.bool, device=docs.device).tril()
    own = torch.eye(t, dtype=torch.bool, device=docs.device)
    return ((same & causal) | own)[:, None]
