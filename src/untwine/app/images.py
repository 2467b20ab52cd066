"""Images in and out of the explorer: uploads checked and fitted to a model, tensors to PNG bytes.

An upload is refused with a message a person can act on (``UploadError`` carries the HTTP status)
before any model sees it: too many bytes or pixels, not a PNG or JPEG, undecodable, or a colour
image for a greyscale model (and the reverse). Accepted images are centre-cropped to a square and
resized to the model's size, as the training images were.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_UPLOAD_PIXELS = 4096 * 4096
FORMATS = ("PNG", "JPEG")


class UploadError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _channels(image: Image.Image, channels: int) -> Image.Image:
    """``image`` as mode L (channels 1) or RGB (channels 3), or an UploadError saying why not."""
    if image.mode in ("1", "L", "I", "I;16", "F"):
        found = "greyscale"
    elif image.mode in ("RGB", "RGBA", "P", "LA", "YCbCr"):
        if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
            rgba = np.asarray(image.convert("RGBA"))
            if (rgba[..., 3] < 255).any():
                raise UploadError(422, "the image has transparent pixels; upload it without transparency")
        rgb = np.asarray(image.convert("RGB"))
        grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        found = "greyscale" if grey else "colour"
        image = image.convert("RGB")
    else:
        raise UploadError(422, f"images of mode {image.mode} ({len(image.getbands())} channels) are not "
                               "supported; upload a greyscale or RGB image")
    if channels == 1:
        if found == "colour":
            raise UploadError(422, "this model works on greyscale images (1 channel); the upload is a "
                                   "colour image (3 channels)")
        if image.mode in ("I", "I;16", "F"):  # 16-bit or float greyscale: scale its range to 0..255
            values = np.asarray(image, dtype=np.float64)
            low, high = values.min(), values.max()
            scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
            return Image.fromarray(scaled.round().astype(np.uint8), "L")
        return image.convert("L")
    if channels == 3:
        if found == "greyscale":
            raise UploadError(422, "this model works on colour images (3 channels); the upload is a "
                                   "greyscale image (1 channel)")
        return image.convert("RGB")
    raise UploadError(422, f"the model expects {channels} channels; uploads can give 1 or 3")


def decode_upload(data: bytes, channels: int, size: int) -> torch.Tensor:
    """An uploaded PNG or JPEG as float [1, channels, size, size] in [0, 1]."""
    if not data:
        raise UploadError(400, "the upload is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(413, f"the upload has {len(data)} bytes; the limit is {MAX_UPLOAD_BYTES}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise UploadError(415, f"the upload is a {image.format} image; upload a PNG or JPEG")
            width, height = image.size
            if width * height > MAX_UPLOAD_PIXELS:
                raise UploadError(413, f"the image is {width}x{height} pixels; the limit is "
                                       f"{MAX_UPLOAD_PIXELS} pixels")
            image.load()
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        # Pillow refuses before reading the size out: its message holds the pixel count
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f"has {found.group(1)} pixels" if found else "has too many pixels"
        raise UploadError(413, f"the image is too large: it {size}; the limit is {MAX_UPLOAD_PIXELS} "
                               "pixels") from None
    except UnidentifiedImageError:
        raise UploadError(415, "the upload is not a PNG or JPEG image that can be decoded") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise UploadError(400, f"the image could not be decoded: {err}") from None
    image = _channels(image, channels)
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))[None]


def to_png(image: torch.Tensor) -> bytes:
    """[C, H, W] or [1, C, H, W] in [0, 1] as PNG bytes."""
    array = (image.detach().reshape(image.shape[-3:]).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    picture = Image.fromarray(array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)  # small images: speed over bytes
    return buffer.getvalue()
