"""Images in memory (``ImageSet``) and the sources that make them."""

from untwine.data.batch import Batch
from untwine.data.blobs import blobs
from untwine.data.digits import digits
from untwine.data.dsprites import dsprites
from untwine.data.errors import DataError
from untwine.data.folder import folder
from untwine.data.imageset import ImageSet
from untwine.data.isic import isic
from untwine.data.longitudinal import longitudinal
from untwine.data.medmnist import medmnist
from untwine.data.mnist import mnist
from untwine.data.nodules import nodules
from untwine.data.pairs import PairSet
from untwine.data.ph2 import ph2
from untwine.data.sampler import BatchSampler
from untwine.data.shapes import shapes
from untwine.data.squares import squares
from untwine.data.volumes import volumes

__all__ = [
    "Batch",
    "BatchSampler",
    "DataError",
    "blobs",
    "ImageSet",
    "PairSet",
    "digits",
    "dsprites",
    "folder",
    "isic",
    "longitudinal",
    "medmnist",
    "mnist",
    "nodules",
    "ph2",
    "shapes",
    "volumes",
    "squares",
]
