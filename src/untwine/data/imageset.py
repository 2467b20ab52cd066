"""ImageSet: images held as uint8 (bit-packed when binary) with the factors, labels, subject ids
and times that describe them. Batches are drawn by index and made float on the device."""

from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from untwine.data.batch import Batch
from untwine.data.bits import PackedBits
from untwine.data.errors import DataError
from untwine.data.sampler import BatchSampler

Indices = torch.Tensor | np.ndarray | slice | list[int] | range


def _row_array(value, name: str, n: int, dtype=None) -> np.ndarray | None:
    """``value`` as a numpy array with one row per image, or a DataError naming ``name``."""
    if value is None:
        return None
    array = np.asarray(value.cpu() if isinstance(value, torch.Tensor) else value, dtype=dtype)
    if array.ndim == 0 or len(array) != n:
        shape = array.shape
        raise DataError(f"{name} has shape {shape}: expected one entry for each of the {n} images")
    return array


@dataclass(eq=False, repr=False)
class ImageSet:
    """N square images of ``channels`` x ``size`` x ``size`` pixels with what is known about each.

    ``pixels``: uint8 [N, C, H, W] in 0..255 (a tensor or an array), or ``PackedBits``; pass
    ``binary=True`` to pack images whose pixels are only 0 and 1 (or 0 and 255) 8 to a byte.
    ``factors``: int64 [N, K], factor k of image i as a class index 0..factor_sizes[k]-1, named by
    ``factor_names``; ``factor_values[k][j]`` is the real value of class j (e.g. a scale of 0.75).
    ``labels``: int64 [N] indices into ``class_names``. ``groups``: subject ids [N] (int or str);
    images of one subject never fall on both sides of ``split``. ``times``: [N] (e.g. days).
    ``origin``: how a registered source made it (``{"source", "options"}``, plus ``test_fraction``,
    ``split_seed`` and ``part`` once split), so that ``fit()`` can write a run directory that
    rebuilds it; None for images from anywhere else, and for arbitrary subsets.
    """

    pixels: torch.Tensor | PackedBits
    factors: np.ndarray | None = None
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()
    factor_values: tuple[np.ndarray, ...] | None = None
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    groups: np.ndarray | None = None
    times: np.ndarray | None = None
    name: str = ""
    binary: InitVar[bool] = False
    origin: dict[str, Any] | None = None

    def __post_init__(self, binary: bool) -> None:
        try:
            self._validate(binary)
        except DataError as error:
            raise DataError(f"{self.name}: {error}" if self.name else str(error)) from None

    def _validate(self, binary: bool) -> None:
        self.pixels = self._storage(self.pixels, binary)
        n = len(self.pixels)
        self.factors = _row_array(self.factors, "factors", n, np.int64)
        self.labels = _row_array(self.labels, "labels", n, np.int64)
        self.groups = _row_array(self.groups, "groups", n)
        self.times = _row_array(self.times, "times", n)
        self.factor_names, self.factor_sizes = tuple(self.factor_names), tuple(self.factor_sizes)
        self.class_names = tuple(self.class_names)
        if self.factors is not None:
            self._check_factors()
        if self.labels is not None and self.class_names and len(self.labels):
            top = int(self.labels.max())
            if top >= len(self.class_names) or self.labels.min() < 0:
                raise DataError(
                    f"labels hold {top} (or a negative value): expected "
                    f"0..{len(self.class_names) - 1} for the classes {self.class_names}"
                )

    @staticmethod
    def _storage(pixels, binary: bool) -> torch.Tensor | PackedBits:
        if isinstance(pixels, PackedBits):
            return pixels
        images = torch.as_tensor(pixels)
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise DataError(
                f"pixels are {images.dtype} {tuple(images.shape)}: expected uint8 [N, C, H, W]"
            )
        if images.shape[2] != images.shape[3]:
            raise DataError(
                f"images are {images.shape[2]}x{images.shape[3]}: expected square images"
            )
        if not binary:
            return images
        values = set(torch.unique(images).tolist())
        if not (values <= {0, 1} or values <= {0, 255}):
            raise DataError(
                "binary images must hold only 0 and 1 (or 0 and 255); "
                f"found values {sorted(values)[:8]}"
            )
        return PackedBits.pack(images.cpu().numpy())

    def _check_factors(self) -> None:
        k = self.factors.shape[1] if self.factors.ndim == 2 else -1
        if k < 0 or len(self.factor_names) != k or len(self.factor_sizes) != k:
            raise DataError(
                f"factors have shape {self.factors.shape} with names {self.factor_names} and sizes "
                f"{self.factor_sizes}: expected [N, K] with K names and K sizes"
            )
        if len(self.factors):
            low, high = self.factors.min(axis=0), self.factors.max(axis=0)
            for j, name in enumerate(self.factor_names):
                if low[j] < 0 or high[j] >= self.factor_sizes[j]:
                    raise DataError(
                        f"factor {name!r} holds values {low[j]}..{high[j]}: expected class indices "
                        f"0..{self.factor_sizes[j] - 1}"
                    )
        for j, values in enumerate(self.factor_values or ()):
            if len(values) != self.factor_sizes[j]:
                raise DataError(
                    f"factor_values of {self.factor_names[j]!r} has {len(values)} entries: "
                    f"expected {self.factor_sizes[j]}, one per class"
                )

    # --- what it holds -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.pixels)

    @property
    def is_binary(self) -> bool:
        return isinstance(self.pixels, PackedBits)

    @property
    def channels(self) -> int:
        return self.pixels.channels if self.is_binary else self.pixels.shape[1]

    @property
    def size(self) -> int:
        """Height and width in pixels (images are square)."""
        return self.pixels.width if self.is_binary else self.pixels.shape[3]

    @property
    def device(self) -> torch.device:
        return self.pixels.device

    @property
    def nbytes(self) -> int:
        """Bytes the pixels take where they are held."""
        return self.pixels.nbytes

    def __repr__(self) -> str:
        held = "bit-packed" if self.is_binary else "uint8"
        parts = [f"{len(self)} x {self.channels}x{self.size}x{self.size} {held} on {self.device}"]
        if self.factors is not None:
            parts.append(
                "factors "
                + ", ".join(map(str, zip(self.factor_names, self.factor_sizes, strict=True)))
            )
        if self.labels is not None:
            parts.append(f"{len(self.class_names) or 'unnamed'} classes")
        if self.groups is not None:
            parts.append(f"{len(np.unique(self.groups))} groups")
        return f"ImageSet({self.name!r}: {'; '.join(parts)})"

    # --- selecting rows ------------------------------------------------------------------------

    def _index(self, indices: Indices) -> torch.Tensor:
        """A slice, range, list, bool mask, array or tensor as a LongTensor where the pixels are."""
        if isinstance(indices, slice | range):
            index = torch.arange(len(self))[indices]
        else:
            if isinstance(indices, list):
                indices = np.asarray(indices, dtype=np.int64 if not indices else None)
            index = torch.as_tensor(indices)
            if index.dtype == torch.bool:
                index = index.nonzero().flatten()
        if index.ndim != 1 or index.is_floating_point():
            raise TypeError(
                f"indices must be a 1-D integer index, got {index.dtype} {tuple(index.shape)}"
            )
        return index.to(self.device, torch.long)

    def subset(self, indices: Indices) -> ImageSet:
        """The images at ``indices`` (in that order) with their factors, labels, groups, times."""
        index = self._index(indices)
        rows = index.cpu().numpy()

        def take(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[rows]

        pixels = self.pixels.take(index) if self.is_binary else self.pixels[index]
        return dataclasses.replace(
            self,
            pixels=pixels,
            factors=take(self.factors),
            labels=take(self.labels),
            groups=take(self.groups),
            times=take(self.times),
            origin=None,  # which rows were taken is not recorded; split() says so itself
        )

    def __getitem__(self, indices: Indices) -> ImageSet:
        if isinstance(indices, int | np.integer):
            raise TypeError(
                "ImageSet[i] needs a slice or an array of indices; use images([i]) for one image"
            )
        return self.subset(indices)

    def split(self, test_fraction: float, seed: int = 0) -> tuple[ImageSet, ImageSet]:
        """(train, test) with about ``test_fraction`` of the rows in test, drawn with ``seed``.

        With groups, whole groups go to one side (no subject in both); else with labels, each class
        is split in the same proportion; else rows are drawn at random. Rows keep their order.
        """
        train_rows, test_rows = self.split_rows(test_fraction, seed)
        train, held_out = self.subset(train_rows), self.subset(test_rows)
        if self.origin is not None and "part" not in self.origin:
            split = {"test_fraction": test_fraction, "split_seed": seed}
            train.origin = {**self.origin, **split, "part": "train"}
            held_out.origin = {**self.origin, **split, "part": "test"}
        return train, held_out

    def split_rows(self, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The row indices (train, test) of ``split``: what lines up per-row data kept elsewhere
        (e.g. the causal masks of a synthetic set) with the split."""
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        if self.groups is not None:
            names, group_of_row = np.unique(self.groups, return_inverse=True)
            order = rng.permutation(len(names))
            # Take groups in random order until the test side holds test_fraction of the rows.
            counts = np.bincount(group_of_row, minlength=len(names))[order]
            taken = np.searchsorted(np.cumsum(counts), test_fraction * len(self)) + 1
            taken = min(taken, len(names) - 1) if len(names) > 1 else 0
            test = np.isin(group_of_row, order[:taken])
        else:
            strata = self.labels if self.labels is not None else np.zeros(len(self), np.int64)
            test = np.zeros(len(self), dtype=bool)
            for label in np.unique(strata):
                rows = rng.permutation(np.flatnonzero(strata == label))
                test[rows[: int(round(test_fraction * len(rows)))]] = True
        return np.flatnonzero(~test), np.flatnonzero(test)

    # --- drawing batches -----------------------------------------------------------------------

    def images(self, indices: Indices | None = None) -> torch.Tensor:
        """uint8 [B, C, H, W] in 0..255 on the storage device (all of them for ``indices=None``)."""
        index = self._index(slice(None) if indices is None else indices)
        if self.is_binary:
            return self.pixels.take(index).unpack()
        return self.pixels[index]

    @cached_property
    def _targets(self) -> dict[str, torch.Tensor]:
        # Labels and factors as tensors on the storage device, made once (no copy on the CPU).
        held = {"labels": self.labels, "factors": self.factors}
        return {k: torch.from_numpy(v).to(self.device) for k, v in held.items() if v is not None}

    def load(self, indices: Indices, device: torch.device | str | None = None) -> Batch:
        """A float32 batch in [0, 1] on ``device`` (default: where the pixels are) with its labels,
        factors and row indices. uint8 or packed bits cross to the device; floats are made there."""
        index = self._index(indices)
        device = torch.device(device) if device is not None else self.device
        if self.is_binary:
            raw = self.pixels.take(index).to(device).unpack()
        else:
            raw = self.pixels[index].to(device, non_blocking=True)
        images = raw.float().div_(255)
        targets = {k: v[index].to(device, non_blocking=True) for k, v in self._targets.items()}
        return Batch(images=images, index=index.to(device), **targets)

    def sampler(self, batch_size: int, seed: int = 0, drop_last: bool = True) -> BatchSampler:
        """Batches of row indices, a pure function of the step (see ``BatchSampler``)."""
        return BatchSampler(len(self), batch_size, seed, drop_last)

    def to(self, device: torch.device | str) -> ImageSet:
        """This set with its pixels moved to ``device`` (metadata shared); self if already there."""
        device = torch.device(device)
        if self.device == device:
            return self
        return dataclasses.replace(self, pixels=self.pixels.to(device))
