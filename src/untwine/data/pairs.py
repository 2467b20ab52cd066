"""Pairs of images that share some (unknown) factors: the weak supervision of Ada-GVAE.

Locatello, Poole, Raetsch, Schoelkopf, Bachem & Tschannen (2020), "Weakly-Supervised
Disentanglement Without Compromises", section 5: a pair is x1 ~ p(x) and x2 drawn with k of x1's
ground-truth factors re-drawn and the others kept; k is fixed (k = 1) or drawn per pair uniformly
from 1..d-1 (d the number of factors that vary). Paper 001 takes pairs from a longitudinal study
instead: two scans of one subject at two visits, whose shared factors nobody labelled.

Two sources, as first-class samplers (disent's idea):

- ``FactorPairs``: on a factor grid, x2 is looked up in the grid after re-drawing k factors of x1,
  each to a value other than its own (so exactly k factors differ; disentanglement_lib's
  ``simple_dynamics`` changes 1 or k factors with equal odds and may re-draw a factor's own value,
  which untwine does not copy). A combination missing from the set (e.g. held out in the test
  split) is re-drawn.
- ``GroupPairs``: x2 is another image of x1's group (subject), at another time when the set has
  times. Images with no such partner are never drawn as x1.

``PairSet(imageset, source)`` looks like an ImageSet to ``fit()``: ``sampler(batch, seed)
.indices(step)`` returns [B, 2] row indices, a pure function of (seed, step), so a resumed run
draws the pairs an unbroken run would; ``load(indices)`` returns a Batch of the first images with
``pair`` holding the second. Build pairs after ``ImageSet.split``: both images come from the one
set wrapped, so no pair crosses the split.
"""

from __future__ import annotations

import copy
from typing import Literal, Protocol

import numpy as np
import torch

from untwine.data.batch import Batch
from untwine.data.errors import DataError
from untwine.data.imageset import ImageSet
from untwine.data.sampler import BatchSampler

PairBy = Literal["factors", "groups"]
_PAIR_STREAM = 0x9A125  # keeps the pair draws of step s apart from any other stream seeded by s
_FACTOR_ROUNDS = 100  # re-draws for combinations missing from the set before giving up
_MIN_GRID_FILL = 0.5  # of the factor grid's combinations that must be present for factor pairs


class PairSource(Protocol):
    """Which rows may start a pair, and a partner for each, drawn with ``rng``."""

    def eligible(self) -> np.ndarray: ...

    def partners(self, first: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


class FactorPairs:
    """Partners that differ from the first image in exactly k factors (Locatello et al. 2020).

    ``k``: how many factors change; ``None`` draws k per pair uniformly from 1..d-1, the paper's
    "k random" setting (1 when only one factor varies).
    """

    def __init__(self, imageset: ImageSet, k: int | None = 1) -> None:
        if imageset.factors is None:
            raise DataError(f"{imageset.name or 'dataset'}: pairs by factors need a set with factors")
        sizes = np.asarray(imageset.factor_sizes, dtype=np.int64)
        self.varying = np.flatnonzero(sizes > 1)
        d = len(self.varying)
        if d == 0:
            raise DataError(f"{imageset.name}: no factor takes more than one value; no pair can differ")
        if k is not None and not 1 <= k <= d:
            raise DataError(f"pairs.k is {k}: expected 1..{d}, the number of factors that vary, or null")
        combinations = int(np.prod(sizes))
        if len(imageset) < _MIN_GRID_FILL * combinations:
            raise DataError(
                f"{imageset.name}: pairs by factors look partners up in the factor grid, but the set "
                f"holds {len(imageset)} of its {combinations} combinations; expected at least "
                f"{_MIN_GRID_FILL:.0%} (use pairs by groups for sets that are not a grid)"
            )
        self.k, self.sizes = k, sizes
        codes = np.ravel_multi_index(imageset.factors.T, sizes)
        self._order = np.argsort(codes, kind="stable")
        self._codes = codes[self._order]
        self._factors = imageset.factors

    def eligible(self) -> np.ndarray:
        return np.arange(len(self._factors))

    def _lookup(self, factors: np.ndarray) -> np.ndarray:
        """Row of each factor combination in the set, or -1 where it is missing."""
        codes = np.ravel_multi_index(factors.T, self.sizes)
        at = np.minimum(np.searchsorted(self._codes, codes), len(self._codes) - 1)
        return np.where(self._codes[at] == codes, self._order[at], -1)

    def _redraw(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, d = len(factors), len(self.varying)
        k = np.full(n, self.k) if self.k is not None else rng.integers(1, max(d - 1, 1) + 1, size=n)
        # The k factors to change: the first k of a random order of the varying factors.
        ranks = rng.random((n, d)).argsort(axis=1).argsort(axis=1)
        change = ranks < k[:, None]
        sizes = self.sizes[self.varying]
        # A value other than the current one: shift it by 1..size-1 modulo the size.
        shift = 1 + (rng.random((n, d)) * (sizes - 1)).astype(np.int64)
        out = factors.copy()
        current = factors[:, self.varying]
        out[:, self.varying] = np.where(change, (current + shift) % sizes, current)
        return out

    def partners(self, first: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        partner = np.full(len(first), -1, dtype=np.int64)
        for _ in range(_FACTOR_ROUNDS):
            missing = np.flatnonzero(partner < 0)
            if not len(missing):
                return partner
            partner[missing] = self._lookup(self._redraw(self._factors[first[missing]], rng))
        row = int(first[np.flatnonzero(partner < 0)[0]])
        raise DataError(
            f"no image in the set differs from row {row} in exactly the drawn factors after "
            f"{_FACTOR_ROUNDS} draws; the factor grid is too sparse for pairs by factors"
        )


class GroupPairs:
    """Partners from the same group (subject), at a different time when the set has times."""

    def __init__(self, imageset: ImageSet) -> None:
        if imageset.groups is None:
            raise DataError(f"{imageset.name or 'dataset'}: pairs by groups need a set with groups")
        n = len(imageset)
        group = np.unique(imageset.groups, return_inverse=True)[1].reshape(-1)
        time = (
            np.unique(imageset.times, return_inverse=True)[1].reshape(-1)
            if imageset.times is not None
            else np.arange(n)  # without times, any other image of the group is a partner
        )
        # Rows sorted by (group, time): a group is one run of rows, a (group, time) a run inside it.
        self._order = np.lexsort((time, group))
        sorted_group, sorted_time = group[self._order], time[self._order]
        self._group_start = np.searchsorted(sorted_group, group, side="left")
        self._group_end = np.searchsorted(sorted_group, group, side="right")
        key = sorted_group * (time.max() + 1) + sorted_time
        row_key = group * (time.max() + 1) + time
        self._same_start = np.searchsorted(key, row_key, side="left")
        self._same_end = np.searchsorted(key, row_key, side="right")
        self._candidates = (self._group_end - self._group_start) - (self._same_end - self._same_start)
        if not (self._candidates > 0).any():
            where = "another visit (time)" if imageset.times is not None else "another image"
            raise DataError(
                f"{imageset.name or 'dataset'}: no group holds {where}; pairs by groups need "
                "subjects seen at least twice"
            )

    def eligible(self) -> np.ndarray:
        return np.flatnonzero(self._candidates > 0)

    def partners(self, first: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # Uniform over the group's rows outside the first image's own (group, time) run.
        u = (rng.random(len(first)) * self._candidates[first]).astype(np.int64)
        start, same_start = self._group_start[first], self._same_start[first]
        before = same_start - start
        slot = np.where(u < before, start + u, self._same_end[first] + (u - before))
        return self._order[slot]


class PairSampler:
    """[B, 2] row indices for step ``step``: first images from a ``BatchSampler`` over the rows
    that can start a pair, partners drawn from a generator seeded by (seed, step) alone."""

    def __init__(self, source: PairSource, batch_size: int, seed: int = 0, drop_last: bool = True):
        self.source, self.seed = source, seed
        self.rows = source.eligible()
        self.first = BatchSampler(len(self.rows), batch_size, seed, drop_last)

    def __len__(self) -> int:
        return len(self.first)

    def indices(self, step: int) -> torch.Tensor:
        first = self.rows[self.first.indices(step).numpy()]
        rng = np.random.default_rng([self.seed, step, _PAIR_STREAM])
        partner = self.source.partners(first, rng)
        return torch.from_numpy(np.stack([first, partner], axis=1))


def pair_source(imageset: ImageSet, by: PairBy, k: int | None = 1) -> PairSource:
    """The pair source ``by`` names on ``imageset`` (``k`` only for pairs by factors)."""
    if by == "factors":
        return FactorPairs(imageset, k)
    if by == "groups":
        return GroupPairs(imageset)
    raise DataError(f"pairs.by is {by!r}: expected 'factors' or 'groups'")


class PairSet:
    """An ImageSet seen as pairs, with the interface ``fit()`` uses (len, channels, size,
    ``sampler``, ``load``). ``imageset`` is the set both images of every pair come from."""

    def __init__(self, imageset: ImageSet, by: PairBy = "factors", k: int | None = 1) -> None:
        self.imageset, self.by, self.k = imageset, by, k
        self.source = pair_source(imageset, by, k)

    def __len__(self) -> int:
        return len(self.imageset)

    def __repr__(self) -> str:
        k = f", k={self.k}" if self.by == "factors" else ""
        return f"PairSet({self.imageset!r}, by={self.by!r}{k})"

    @property
    def channels(self) -> int:
        return self.imageset.channels

    @property
    def size(self) -> int:
        return self.imageset.size

    @property
    def name(self) -> str:
        return self.imageset.name

    def to(self, device: torch.device | str) -> PairSet:
        """The same pairs over ``imageset.to(device)`` (the pair tables stay where they are)."""
        moved = copy.copy(self)
        moved.imageset = self.imageset.to(device)
        return moved

    def sampler(self, batch_size: int, seed: int = 0, drop_last: bool = True) -> PairSampler:
        return PairSampler(self.source, batch_size, seed, drop_last)

    def load(self, indices: torch.Tensor, device: torch.device | str | None = None) -> Batch:
        """Pairs [B, 2]: the first images with ``pair`` the second; [B]: single images."""
        indices = torch.as_tensor(indices)
        if indices.ndim == 1:
            return self.imageset.load(indices, device)
        if indices.ndim != 2 or indices.shape[1] != 2:
            raise ValueError(f"pair indices must be [B, 2], got {tuple(indices.shape)}")
        batch = self.imageset.load(indices[:, 0], device)
        batch.pair = self.imageset.load(indices[:, 1], device)
        return batch
