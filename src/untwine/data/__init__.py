"""Images in memory (``ImageSet``) and the sources that make them."""

from untwine.data.batch import Batch
from untwine.data.blobs import blobs
from untwine.data.digits import digits
from untwine.data.dsprites import dsprites
from untwine.data.errors import DataError
from untwine.data.folder import folder
from untwine.data.imageset import ImageSet
from untwine.data.medmnist import medmnist
from untwine.data.mnist import mnist
from untwine.data.sampler import BatchSampler
from untwine.data.shapes import shapes

__all__ = [
    "Batch",
    "BatchSampler",
    "DataError",
    "blobs",
    "ImageSet",
    "digits",
    "dsprites",
    "folder",
    "medmnist",
    "mnist",
    "shapes",
]
