"""Separated Attribute Predictability (Kumar et al. 2018, "Variational Inference of Disentangled
Latent
Concepts from Unlabeled Observations", Sec. 3), as disentanglement_lib computes it (sap_score.py).

Score matrix S [D, K]: how well code dimension d alone predicts factor k. SAP is the mean over
factors
of the gap between the two best dimensions. Discrete factors (disentanglement_lib's default): S is
the
held-out accuracy of ``LinearSVC(C=0.01, class_weight="balanced")`` fit on the one dimension.
Continuous variant: S is the squared correlation cov(z_d, v_k)^2 / (var z_d var v_k), 0 when
var z_d <= 1e-12.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from untwine.metrics._arrays import MetricError, check_codes, check_factors, check_split
from untwine.metrics._linear_svc import fit_predict


@dataclass(frozen=True)
class SAPResult:
    score: float  # mean over factors of the top-two gap in score_matrix
    score_matrix: np.ndarray  # [D, K] held-out accuracy (or squared correlation)
    continuous: bool


def sap(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray | None = None,
    factors_test: np.ndarray | None = None,
    continuous: bool = False,
) -> SAPResult:
    """SAP of codes [N, D] against integer factors [N, K].

    The discrete variant trains on (codes, factors) and scores on (codes_test, factors_test);
    without
    a test split it holds out the last third of the samples, as disentanglement_lib's fixed-data
    variant does with ``train_percentage``. The classifiers are scikit-learn's LinearSVC solved for
    all dimensions and classes at once (``_linear_svc``): the problem of ``LinearSVC(C=0.01,
    class_weight="balanced", penalty="l2", loss="squared_hinge", dual=False, tol=1e-4,
    fit_intercept=True, intercept_scaling=1, max_iter=1000)``, to 1e-9 in coefficients (tests,
    scikit-learn 1.5.2 and 1.9.1). disentanglement_lib leaves ``dual`` to the library's default,
    which is that primal problem from scikit-learn 1.5 on (``dual="auto"``); before 1.5 it solved
    the dual, so pyproject admits scikit-learn >= 1.5 only.
    The continuous variant uses (codes, factors) only.
    """
    z = check_codes(codes)
    if z.shape[1] < 2:
        raise MetricError(f"codes has {z.shape[1]} dimension; SAP compares the two best, so needs >= 2")
    if continuous:
        check_factors(factors, z.shape[0])
        y = np.asarray(factors, dtype=np.float64)
        zc, yc = z - z.mean(axis=0), y - y.mean(axis=0)
        var_z = (zc**2).sum(axis=0) / (len(z) - 1)
        var_y = (yc**2).sum(axis=0) / (len(z) - 1)
        cov = zc.T @ yc / (len(z) - 1)
        matrix = np.where(var_z[:, None] > 1e-12, cov**2 / (var_z[:, None] * var_y[None, :]), 0.0)
    else:
        if (codes_test is None) != (factors_test is None):
            raise MetricError("pass both codes_test and factors_test, or neither")
        if codes_test is None:
            cut = len(z) - len(z) // 3
            codes, codes_test = z[:cut], z[cut:]
            f = np.asarray(factors)
            factors, factors_test = f[:cut], f[cut:]
        ztr, ftr, zte, fte = check_split(codes, factors, codes_test, factors_test)
        matrix = np.empty((ztr.shape[1], ftr.shape[1]))
        for j in range(ftr.shape[1]):  # one vectorized solve per factor: all dimensions and classes
            classes, labels = np.unique(ftr[:, j], return_inverse=True)
            predicted = classes[fit_predict(ztr, labels, len(classes), zte)]
            matrix[:, j] = (predicted == fte[:, j : j + 1]).mean(axis=0)
    top = np.sort(matrix, axis=0)
    return SAPResult(float(np.mean(top[-1] - top[-2])), matrix, continuous)
