"""Images in memory (``ImageSet``) and the sources that make them.

``SOURCES`` is the registry a run config's ``data.source`` names: a function returning an ImageSet,
whose keyword arguments are the config's ``data.options`` (validated from its signature). Add a
source with one file here and one line below.
"""

from untwine.core.registry import Registry
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
from untwine.data.pairs import PairSet
from untwine.data.ph2 import ph2
from untwine.data.sampler import BatchSampler
from untwine.data.shapes import shapes
from untwine.data.squares import squares
from untwine.data.volumes import volumes

SOURCES: Registry = Registry("data source")
SOURCES.add("shapes", shapes)
SOURCES.add("dsprites", dsprites)
SOURCES.add("medmnist", medmnist)
SOURCES.add("mnist", mnist)
SOURCES.add("folder", folder)
SOURCES.add("digits", digits)
SOURCES.add("squares", squares)
SOURCES.add("blobs", blobs)
SOURCES.add("ph2", ph2)
SOURCES.add("isic", isic)
SOURCES.add("volumes", volumes)
SOURCES.add("longitudinal", longitudinal)

__all__ = [
    "SOURCES",
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
    "ph2",
    "shapes",
    "volumes",
    "squares",
]
