"""Speech and learning of one society in agent shards on a dask cluster (``[compute]``).

Without shards (``compute.shards = 0``) the stages call :func:`society.lm.base.sample_many`
and :func:`~society.lm.base.update_many` in this process. With shards, the agents are cut
into ``shards`` contiguous slices; each slice travels to a dask.distributed worker as one
template model (the tokenizer and hyperparameters, sent once per task) plus every agent's
``state()``, and comes back as texts (speech) or new states (learning), which the agents'
models ``load``. Sampling requests carry their own seeded generators drawn from the
society's stream, so the texts are the same wherever they are sampled: a sharded run's
tables equal the local run's.

Cost: every round each agent's counts cross the network twice (to learn and to speak) and
once back; worth it when the cluster has many more cores than this machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from society.config.base import ConfigError
from society.config.sections import ComputeConfig
from society.lm.base import LanguageModel, sample_many, update_many
from society.lm.request import SpeechRequest

State = dict[str, np.ndarray]


def _models(template: LanguageModel, states: Sequence[State]) -> list[LanguageModel]:
    out = []
    for state in states:
        model = template.clone()
        model.load(state)
        out.append(model)
    return out


def sample_shard(
    template: LanguageModel, states: Sequence[State], requests: Sequence[SpeechRequest]
) -> list[list[str]]:
    """On a worker: rebuild a shard's models from their states and sample them together."""
    return sample_many(_models(template, states), requests)


def update_shard(
    template: LanguageModel, states: Sequence[State], texts: Sequence[Sequence[str]]
) -> list[State]:
    """On a worker: rebuild a shard's models, update them together, return their states."""
    models = _models(template, states)
    update_many(models, texts)
    return [model.state() for model in models]


def slices(n: int, shards: int) -> list[slice]:
    """``shards`` contiguous, nearly equal slices of ``range(n)`` (none empty)."""
    bounds = np.linspace(0, n, min(shards, n) + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def connect(config: ComputeConfig, timeout: str = "10s") -> Any:
    """A dask.distributed Client: a LocalCluster on 127.0.0.1, or the scheduler's.

    Raises:
        ConfigError: the scheduler cannot be reached.
    """
    from dask.distributed import Client, LocalCluster

    if config.scheduler == "local":
        cluster = LocalCluster(
            n_workers=config.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        return Client(cluster)
    try:
        return Client(config.scheduler, timeout=timeout)
    except (OSError, TimeoutError) as error:
        raise ConfigError(
            f"compute.scheduler: cannot connect to {config.scheduler} ({error})"
        ) from None


class Shards:
    """The society's speech and learning, locally or in shards on a dask cluster.

    The client is opened at the first sharded call and is never pickled (a resumed run
    opens its own).

    Args:
        config: the scenario's ``[compute]`` table.
    """

    def __init__(self, config: ComputeConfig) -> None:
        self.config = config
        self._client: Any = None

    @property
    def sharded(self) -> bool:
        """Whether speech and learning leave this process."""
        return self.config.shards > 0

    def client(self) -> Any:
        """The dask client (opened on first use)."""
        if self._client is None:
            self._client = connect(self.config)
        return self._client

    def sample(
        self, models: Sequence[LanguageModel], requests: Sequence[SpeechRequest]
    ) -> list[list[str]]:
        """Each model's texts for its request (as :func:`~society.lm.base.sample_many`)."""
        if not self.sharded or not models:
            return sample_many(models, requests)
        client = self.client()
        futures = [
            client.submit(
                sample_shard,
                models[part][0],
                [m.state() for m in models[part]],
                list(requests[part]),
                pure=False,
            )
            for part in slices(len(models), self.config.shards)
        ]
        return [texts for shard in client.gather(futures) for texts in shard]

    def update(self, models: Sequence[LanguageModel], texts: Sequence[Sequence[str]]) -> None:
        """Each model learns its texts (as :func:`~society.lm.base.update_many`), in place."""
        if not self.sharded or not models:
            update_many(models, texts)
            return
        client = self.client()
        parts = slices(len(models), self.config.shards)
        futures = [
            client.submit(
                update_shard,
                models[part][0],
                [m.state() for m in models[part]],
                [list(t) for t in texts[part]],
                pure=False,
            )
            for part in parts
        ]
        for part, states in zip(parts, client.gather(futures), strict=True):
            for model, state in zip(models[part], states, strict=True):
                model.load(state)

    def close(self) -> None:
        """Close the client and, for a local cluster, its workers."""
        client, self._client = self._client, None
        if client is not None:
            cluster = client.cluster if self.config.scheduler == "local" else None
            client.close()
            if cluster is not None:
                cluster.close()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the settings, never the connection."""
        return {"config": self.config, "_client": None}
