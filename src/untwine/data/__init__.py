"""Images in memory (``ImageSet``) and the sources that make them.

``SOURCES`` is the registry a run config's ``data.source`` names: a function returning an ImageSet,
whose keyword arguments are the config's ``data.options`` (validated from its signature). Add a
source with one file here and one line below. The function ``SOURCES.add`` returns is the one the
package exports: it records each ImageSet's origin, so a run trained on it can rebuild it.
"""

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
from untwine.data.registry import SourceRegistry
from untwine.data.sampler import BatchSampler
from untwine.data.saved import save_imageset, saved
from untwine.data.shapes import shapes
from untwine.data.squares import squares
from untwine.data.volumes import volumes

SOURCES = SourceRegistry("data source")
shapes = SOURCES.add("shapes", shapes)
dsprites = SOURCES.add("dsprites", dsprites)
medmnist = SOURCES.add("medmnist", medmnist)
mnist = SOURCES.add("mnist", mnist)
folder = SOURCES.add("folder", folder)
digits = SOURCES.add("digits", digits)
squares = SOURCES.add("squares", squares)
blobs = SOURCES.add("blobs", blobs)
nodules = SOURCES.add("nodules", nodules)
ph2 = SOURCES.add("ph2", ph2)
isic = SOURCES.add("isic", isic)
volumes = SOURCES.add("volumes", volumes)
longitudinal = SOURCES.add("longitudinal", longitudinal)
saved = SOURCES.add("saved", saved)  # what fit() keeps of images no source made

__all__ = [
    "SOURCES",
    "save_imageset",
    "saved",
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
