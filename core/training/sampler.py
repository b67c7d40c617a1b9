"""Which users train together: shuffled global batches of similar lengths, split across ranks.

Like `torch.utils.data.DistributedSampler` + `BatchSampler`, but the batch is split, not the
data set: every rank builds the same global batches from (seed, epoch) and takes every
world-th user of each (a length-sorted batch dealt out this way gives each rank a similar
amount of work). So one optimizer step still sees `batch_size` sequences in total whatever
the number of ranks, an epoch has the same steps as in one process, and a resumed batch index
means the same batch on every rank.
"""

from __future__ import annotations

import math

import numpy as np

from core.training.bucketing import SORT_WINDOW, bucketed_batches
from core.training.distributed import DistContext


class DistributedBatchSampler:
    """Global batches of `users` per epoch, and this rank's slice of each."""

    def __init__(
        self,
        users: np.ndarray,
        lengths: np.ndarray,
        batch_size: int,
        seed: int,
        context: DistContext | None = None,
    ) -> None:
        self.users = users  # (U,) trainable user indices
        self.lengths = lengths  # (num_users,) training events of every user, by user index
        self.batch_size = batch_size  # sequences per step, all ranks together
        self.seed = seed
        self.context = context or DistContext()

    def __len__(self) -> int:
        """Planned steps per epoch (a last batch smaller than the world is dropped)."""
        return math.ceil(len(self.users) / self.batch_size)

    def global_batches(self, epoch: int) -> list[np.ndarray]:
        """User batches of one epoch: shuffled by (seed, epoch), similar lengths together."""
        rng = np.random.default_rng([self.seed, epoch, 1])
        lengths = self.lengths[self.users]  # (U,)
        order = bucketed_batches(lengths, self.batch_size, rng, SORT_WINDOW, self.context.world)
        return [self.users[batch] for batch in order]  # every rank gets a user

    def shard(self, batch: np.ndarray) -> np.ndarray:
        """This rank's users of a global batch: every world-th, starting at its rank."""
        return batch[self.context.rank :: self.context.world] if self.context.active else batch
