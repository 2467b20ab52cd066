"""Checks shared by every metric: what a code array and a factor array must be, with errors that
name the argument and the offending value instead of a NaN three calls later.

Layout: codes are [samples, code dimensions] (float), factors [samples, factors] (integer class
indices). disentanglement_lib lays both out transposed; untwine follows the rest of the library.
"""

from __future__ import annotations

import numpy as np


class MetricError(ValueError):
    """Input a metric cannot score; the message names the argument and the value."""


def check_codes(codes: np.ndarray, name: str = "codes") -> np.ndarray:
    """A finite 2-D float array [N, D]; float32 stays float32 so binning matches NumPy's on it."""
    a = np.asarray(codes)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise MetricError(f"{name} must be a 2-D array [samples >= 2, dimensions]; got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        if not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
            raise MetricError(f"{name} must be numeric; got dtype {a.dtype}")
        a = a.astype(np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise MetricError(
            f"{name}[{i}, {j}] is {a[i, j]} ({int(bad.sum())} non-finite values); codes must be finite"
        )
    return a


def integer_factors(factors: np.ndarray, n: int, k: int | None = None, name: str = "factors"):
    """int64 [n, K] class indices. Floats pass when every value is whole (factors that went
    through a float array); fractions, NaN and other dtypes are errors naming the first one."""
    a = np.asarray(factors)
    if a.ndim != 2 or a.shape[1] < 1:
        raise MetricError(f"{name} must be a 2-D array [samples, factors]; got shape {a.shape}")
    if a.shape[0] != n:
        raise MetricError(f"{name} has {a.shape[0]} rows but the codes have {n}; they must be paired")
    if k is not None and a.shape[1] != k:
        raise MetricError(f"{name} has {a.shape[1]} factors but the training split has {k}")
    if np.issubdtype(a.dtype, np.floating):
        whole = np.isfinite(a) & (a == np.round(a))
        if not whole.all():
            i, j = np.argwhere(~whole)[0]
            raise MetricError(f"{name} must hold integer class indices; {name}[{i}, {j}] is {a[i, j]}")
    elif not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise MetricError(f"{name} must hold integer class indices; got dtype {a.dtype}")
    return a.astype(np.int64)


def check_factors(factors: np.ndarray, n: int, name: str = "factors") -> tuple[np.ndarray, np.ndarray]:
    """Factor labels relabelled to 0..k-1 per column, and each column's number of values k.

    A factor with a single value is an error: its entropy is 0 and no classifier can be fit.
    """
    a = integer_factors(factors, n, name=name)
    labels = np.empty(a.shape, dtype=np.int64)
    sizes = np.empty(a.shape[1], dtype=np.int64)
    for j in range(a.shape[1]):  # one np.unique per factor column
        values, labels[:, j] = np.unique(a[:, j], return_inverse=True)
        sizes[j] = len(values)
        if sizes[j] < 2:
            raise MetricError(
                f"{name}[:, {j}] takes a single value ({values[0]}) in all {n} samples; a factor "
                "that never varies has zero entropy and cannot be scored (drop it first)"
            )
    return labels, sizes


def check_split(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked train and test arrays, factors as their original integer values (the classifiers
    compare predicted values with the test split's). Only the training factors must vary."""
    ztr = check_codes(codes_train, "codes_train")
    zte = check_codes(codes_test, "codes_test")
    if zte.shape[1] != ztr.shape[1]:
        raise MetricError(f"codes_test has {zte.shape[1]} dimensions but codes_train has {ztr.shape[1]}")
    check_factors(factors_train, len(ztr), "factors_train")
    ftr = integer_factors(factors_train, len(ztr), name="factors_train")
    fte = integer_factors(factors_test, len(zte), ftr.shape[1], name="factors_test")
    return ztr, ftr, zte, fte
