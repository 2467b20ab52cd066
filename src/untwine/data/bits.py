"""Binary images held 8 pixels a byte, and only the band of rows that holds the object.

A 64x64 binary image packed along its width takes 64 x 8 bytes. Objects such as rendered shapes
fill a band of rows far narrower than the image, so each image keeps only a fixed-height band
(as many rows as the tallest object needs) and the row where that band starts. Unpacking is two
tensor copies: rows back into place, then a 256 x 8 table from byte to pixels. No per-image Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_TABLES: dict[torch.device, torch.Tensor] = {}


def _table(device: torch.device) -> torch.Tensor:
    """Row b: the 8 pixels of byte b, high bit first (np.packbits' order), 0 or 255."""
    if device not in _TABLES:
        bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1) * np.uint8(255)
        _TABLES[device] = torch.from_numpy(bits).to(device)
    return _TABLES[device]


@dataclass(frozen=True)
class PackedBits:
    """N binary images of C x height x width pixels.

    ``rows``: uint8 [N, C, band, ceil(width / 8)], image row ``offset[i] + r`` packed in row r;
    every row outside the band is empty. ``offset``: int64 [N].
    """

    rows: torch.Tensor
    offset: torch.Tensor
    height: int
    width: int

    @classmethod
    def pack(cls, images: np.ndarray) -> PackedBits:
        """Packs uint8 or bool images [N, C, H, W]; every non-zero pixel is on."""
        return cls.crop(np.packbits(images != 0, axis=-1), images.shape[-1])

    @classmethod
    def crop(cls, packed: np.ndarray, width: int) -> PackedBits:
        """Keeps the narrowest band of rows of full packed images [N, C, H, ceil(W / 8)]."""
        n, _, height, _ = packed.shape
        filled = packed.any(axis=(1, 3))  # [N, H]: which rows hold a pixel
        any_row = filled.any(axis=1)
        first = np.where(any_row, filled.argmax(axis=1), 0)
        last = np.where(any_row, height - 1 - filled[:, ::-1].argmax(axis=1), -1)
        band = int((last - first + 1).max(initial=0))
        offset = np.minimum(first, height - band).astype(np.int64)
        index = (offset[:, None] + np.arange(band))[:, None, :, None]
        rows = np.take_along_axis(packed, index, axis=2)
        return cls(torch.from_numpy(rows), torch.from_numpy(offset), height, width)

    def __len__(self) -> int:
        return self.rows.shape[0]

    @property
    def channels(self) -> int:
        return self.rows.shape[1]

    @property
    def device(self) -> torch.device:
        return self.rows.device

    @property
    def nbytes(self) -> int:
        return self.rows.nbytes + self.offset.nbytes

    def take(self, index: torch.Tensor) -> PackedBits:
        """The images at ``index`` (a LongTensor on this storage's device)."""
        return PackedBits(self.rows[index], self.offset[index], self.height, self.width)

    def to(self, device: torch.device | str) -> PackedBits:
        return PackedBits(self.rows.to(device), self.offset.to(device), self.height, self.width)

    def unpack(self) -> torch.Tensor:
        """uint8 [N, C, H, W], 0 or 255, on this storage's device."""
        rows, device, height = self.rows, self.rows.device, self.height
        n, c, band, nbytes = rows.shape
        if band < height:
            # Stored row r of image i goes to flat row i * H + offset_i + r; the rest stay zero.
            full = torch.zeros(n * height, c, nbytes, dtype=torch.uint8, device=device)
            image_start = torch.arange(n, device=device)[:, None] * height + self.offset[:, None]
            target = (image_start + torch.arange(band, device=device)).reshape(-1)
            full.index_copy_(0, target, rows.transpose(1, 2).reshape(n * band, c, nbytes))
            rows = full.view(n, height, c, nbytes).transpose(1, 2)
        # index_select with int32 indices: several times faster than advanced indexing on the CPU
        pixels = _table(device).index_select(0, rows.reshape(-1).int())
        return pixels.reshape(n, c, height, nbytes * 8)[..., : self.width]
