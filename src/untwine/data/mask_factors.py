"""Hand-crafted factors of a lesion from its segmentation mask (paper 000, "MIG_hf"): eccentricity,
orientation and size, measured with scikit-image's ``regionprops`` and binarized: eccentricity and
size at their medians, orientation as horizontal vs vertical major axis.

Every foreground pixel of a mask counts as one region (its second moments give the fitted ellipse),
so a lesion the expert drew in two pieces is measured as one shape, not as its largest piece.

- eccentricity: of the ellipse with the same second moments, 0 (circle) .. 1 (a line);
- orientation: angle in radians between the image's row axis and the ellipse's major axis, in
  [-pi/2, pi/2] (scikit-image's convention); as a factor, 1 when the major axis lies nearer the
  horizontal (|angle| > pi/4), 0 when nearer the vertical. Paper 000 names the factor and gives no
  rule; this one is untwine's choice, a property a dermatologist would recognise. Cutting the
  signed angle at its median would instead separate lesions tilted left from lesions tilted right
  and put horizontal ones (angles near +pi/2 and -pi/2, the same axis) on both sides.
- size: the lesion's area as a fraction of the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.measure import regionprops

from untwine.data.errors import DataError

MASK_FACTOR_NAMES = ("eccentricity", "orientation", "size")


@dataclass(frozen=True)
class MaskMeasures:
    eccentricity: np.ndarray  # [N] in [0, 1]
    orientation: np.ndarray  # [N] radians in [-pi/2, pi/2]
    size: np.ndarray  # [N] lesion area / image area

    def as_array(self) -> np.ndarray:
        """[N, 3] in the order of ``MASK_FACTOR_NAMES``."""
        return np.stack([self.eccentricity, self.orientation, self.size], axis=1)


def measure_masks(masks: np.ndarray, where: str = "masks") -> MaskMeasures:
    """Eccentricity, orientation and size of each binary mask [N, H, W] (non-zero = lesion)."""
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise DataError(f"{where} has shape {masks.shape}: expected [N, H, W] binary masks")
    empty = np.flatnonzero(~masks.reshape(len(masks), -1).any(axis=1))
    if len(empty):
        raise DataError(f"{where}[{empty[0]}] is empty ({len(empty)} empty masks): no lesion to measure")
    measures = np.empty((len(masks), 3))
    for i, mask in enumerate(masks):
        (region,) = regionprops((mask != 0).astype(np.uint8))
        measures[i] = region.eccentricity, region.orientation, region.area / mask.size
    return MaskMeasures(*measures.T)


def binarize_at_median(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes, class means): 1 where a value is above the median of ``values``, else 0; and the
    mean value of each class (for ``ImageSet.factor_values``)."""
    values = np.asarray(values, dtype=np.float64)
    classes = (values > np.median(values)).astype(np.int64)
    means = np.array([values[classes == c].mean() if (classes == c).any() else np.nan for c in (0, 1)])
    return classes, means


def horizontal_major_axis(orientation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes, class means): 1 where the major axis lies nearer the image's horizontal than its
    vertical (|orientation| > pi/4), else 0; and each class's mean |orientation| (0: vertical,
    pi/2: horizontal)."""
    tilt = np.abs(np.asarray(orientation, dtype=np.float64))
    classes = (tilt > np.pi / 4).astype(np.int64)
    means = np.array([tilt[classes == c].mean() if (classes == c).any() else np.nan for c in (0, 1)])
    return classes, means


def mask_factors(masks: np.ndarray, where: str = "masks") -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Binary factors [N, 3] (eccentricity and size above their medians, orientation horizontal)
    and the mean measure of each class, ready for an ImageSet's ``factors`` and ``factor_values``."""
    measured = measure_masks(masks, where)
    columns = [binarize_at_median(measured.eccentricity), horizontal_major_axis(measured.orientation),
               binarize_at_median(measured.size)]
    return np.stack([c for c, _ in columns], axis=1), tuple(m for _, m in columns)
