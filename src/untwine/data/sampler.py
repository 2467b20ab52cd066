"""Batches of row indices that depend only on (seed, step): a resumed run draws what an unbroken
run would."""

from __future__ import annotations

import numpy as np
import torch


def _epoch_seed(seed: int, epoch: int) -> int:
    # SeedSequence mixes (seed, epoch) so that nearby seeds and epochs give unrelated permutations.
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


class BatchSampler:
    """Row indices for training step ``step``: batch ``step % steps_per_epoch`` of epoch
    ``step // steps_per_epoch``, each epoch a permutation of the N rows seeded by (seed, epoch).

    ``indices(step)`` is a pure function of (n, batch_size, seed, drop_last, step); the
    permutation of the current epoch is cached: steps drawn in order cost one ``randperm`` an
    epoch.
    With ``drop_last`` the last partial batch of each epoch is skipped, so every batch is full.
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0, drop_last: bool = True) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        if n < (batch_size if drop_last else 1):
            raise ValueError(f"cannot draw batches of {batch_size} from {n} images")
        self.n, self.batch_size, self.seed, self.drop_last = n, batch_size, seed, drop_last
        self.steps_per_epoch = n // batch_size if drop_last else -(-n // batch_size)
        self._epoch = -1
        self._order = torch.empty(0, dtype=torch.long)

    def __len__(self) -> int:
        return self.steps_per_epoch

    def permutation(self, epoch: int) -> torch.Tensor:
        """The order of the rows in epoch ``epoch`` (LongTensor [N])."""
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(_epoch_seed(self.seed, epoch))
            self._order = torch.randperm(self.n, generator=generator)
            self._epoch = epoch
        return self._order

    def indices(self, step: int) -> torch.Tensor:
        """Row indices of step ``step``: LongTensor [batch_size] (fewer in a last partial batch)."""
        if step < 0:
            raise ValueError(f"step must be non-negative, got {step}")
        epoch, batch = divmod(step, self.steps_per_epoch)
        start = batch * self.batch_size
        return self.permutation(epoch)[start : start + self.batch_size]
