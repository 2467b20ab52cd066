"""The skin-lesion protocol of paper 000 (Sarhan et al. 2019, Table 1), and more where PH2 allows.

    MIG_p   MIG (metrics/mig.py) against the classes as binary one-vs-all factors (7 for ISIC 2018,
            3 for PH2), on the codes of the evaluated split
    MIG_hf  MIG against the lesion mask's eccentricity and size, binarized at their medians, and
            orientation as horizontal vs vertical major axis (untwine's rule: the paper gives none;
            data/mask_factors.py; factors of those names in the dataset)
    PSNR    of the reconstructions (decoded posterior means) of the held-out images (metrics/psnr.py)
    NMI     GMM on the codes against the classes, mean of 10 fits (metrics/clustering.py), with as
            many components as the scored images have classes (``components``; paper 000's 7 are
            ISIC 2018's 7 classes, PH2 has 3)
    ACC     MLP trained on one of 10 stratified folds (10%), tested on the other 90%, mean over folds
            (metrics/few_label.py); ACC_std is the spread over folds
    beyond the paper, against every other factor of the dataset (PH2's expert dermoscopic criteria):
    MIG_criteria and DCI_criteria (disentanglement, completeness, test informativeness; trees fit
    on a stratified two thirds of the codes, scored on the last third)

Which images: every score is computed on the run's held-out (test) split by default
(``score_on="held_out"``), the images training never saw; when there is none, or it is too small
for the stratified folds of ACC (fewer than ``folds`` images of some class), on the evaluated split,
and ``parameters["scored_on"]`` says which and why. Paper 000 does not say; scoring images the model
trained on flatters every score. Training may also have flipped and turned the images
(``train.augment``: flips and right-angle rotations, not in the paper), which changes what
orientation and, less, eccentricity a code can carry; ``untwine evaluate`` records it in eval.json
as ``parameters["training_augmentation"]``.

Scores are fractions (MIG, NMI, ACC in [0, 1]; paper 000 prints percentages) and PSNR in dB. A score
whose inputs the dataset lacks (no labels, no mask factors) is left out and named in
``parameters["skipped"]``. The protocol also draws Fig. 1: traversal grids of chosen images and a walk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from untwine.data.mask_factors import MASK_FACTOR_NAMES
from untwine.metrics.clustering import gmm_nmi
from untwine.metrics.dci import dci
from untwine.metrics.few_label import few_label_accuracy
from untwine.metrics.mig import mig
from untwine.metrics.psnr import psnr
from untwine.protocols.disentanglement import encode
from untwine.protocols.result import ProtocolResult

BINS = 20


def one_vs_all(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary factors [N, C], one per class present in ``labels``, and those classes."""
    classes = np.unique(labels)
    return (labels[:, None] == classes[None, :]).astype(np.int64), classes


@torch.inference_mode()
def reconstructions(model: torch.nn.Module, dataset, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(images, reconstructions from the posterior means), float [N, C, H, W] in [0, 1]."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    xs, ys = [], []
    try:
        for chunk in torch.arange(len(dataset)).split(batch_size):
            x = dataset.load(chunk, device).images
            xs.append(x.cpu().numpy())
            ys.append(model.reconstruct(x).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(xs), np.concatenate(ys)


def _varying(factors: np.ndarray) -> np.ndarray:
    return np.array([len(np.unique(factors[:, k])) > 1 for k in range(factors.shape[1])], dtype=bool)


def _stratified_thirds(labels: np.ndarray | None, n: int, seed: int) -> np.ndarray:
    """A boolean mask of the training two thirds, stratified by ``labels`` when there are any."""
    rng = np.random.default_rng(seed)
    strata = labels if labels is not None else np.zeros(n, np.int64)
    train = np.zeros(n, dtype=bool)
    for value in np.unique(strata):
        rows = rng.permutation(np.flatnonzero(strata == value))
        train[rows[: int(round(2 * len(rows) / 3))]] = True
    return train


def _scoring_set(dataset, held_out, score_on: str, folds: int):
    """(the images to score, why not the held-out ones when they were asked for but not used)."""
    if score_on == "evaluated":
        return dataset, None
    if held_out is None or len(held_out) < 2:
        return dataset, "no held-out split"
    if held_out.labels is not None:
        counts = np.unique(np.asarray(held_out.labels), return_counts=True)[1]
        if len(counts) < 2 or counts.min() < folds:
            return dataset, (f"the held-out split has {counts.min()} images of a class, fewer than "
                             f"folds={folds} (ACC's stratified folds need one per fold)")
    return held_out, None


def _figures(model, dataset, figures: Path, images: list[int] | None, walk_between: list[int] | None,
             walk_dims: int, seed: int) -> dict[str, Any]:
    from untwine.explain.traverse import kl_per_dimension, save_image
    from untwine.explain.walk import traversal_grids, walk_figure

    device = next(model.parameters()).device
    labels = dataset.labels
    if images is None:  # the first image of each class, as far as three
        images = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)][:3] if labels is not None \
            else list(range(min(3, len(dataset))))
    generator = torch.Generator().manual_seed(seed)
    reference = dataset.load(torch.randperm(len(dataset), generator=generator)[:512], device).images
    chosen = dataset.load(torch.tensor(images), device).images
    figures.mkdir(parents=True, exist_ok=True)
    save_image(traversal_grids(model, chosen, reference), figures / "lesion_traversals.png")
    kl = kl_per_dimension(model, reference)
    dims = np.argsort(-kl)[:walk_dims].tolist()
    ends = walk_between or [images[0], images[-1]]
    pair = dataset.load(torch.tensor(ends), device).images
    save_image(walk_figure(model, pair[0], pair[1], dims), figures / "lesion_walk.png")
    return {"traversal_images": images, "walk_between": ends, "walk_dims": dims}


def lesions(
    model: torch.nn.Module,
    dataset,
    *,
    seed: int,
    figures: Path,
    held_out=None,
    score_on: Literal["held_out", "evaluated"] = "held_out",
    components: int | None = None,
    realizations: int = 10,
    covariance: Literal["full", "tied", "diag", "spherical"] = "full",
    folds: int = 10,
    dci_learner: Literal["gbt", "sklearn"] = "gbt",
    traversal_images: list[int] | None = None,
    walk_between: list[int] | None = None,
    walk_dims: int = 4,
    draw_figures: bool = True,
) -> ProtocolResult:
    """Paper 000's Table 1 columns for one run (see the module docstring): on ``held_out`` (the
    run's test split) unless ``score_on="evaluated"`` or it cannot be scored, else on ``dataset``;
    PSNR on ``held_out`` whenever there is one. ``components`` of the GMM: default the number of
    classes scored."""
    scored, reason = _scoring_set(dataset, held_out, score_on, folds)
    codes = encode(model, scored, np.arange(len(scored)))
    labels = None if scored.labels is None else np.asarray(scored.labels)
    factors = None if scored.factors is None else np.asarray(scored.factors)
    names = list(dataset.factor_names)
    scores: dict[str, float] = {}
    details: dict[str, Any] = {}
    skipped: list[str] = []
    params: dict[str, Any] = {"n": len(scored), "seed": seed, "bins": BINS,
                              "code_dimensions": int(codes.shape[1]),
                              "scored_on": "held_out" if scored is held_out else "evaluated split"}
    if reason:
        params["scored_on_reason"] = reason

    if labels is not None:
        onehot, classes = one_vs_all(labels)
        result = mig(codes, onehot, BINS)
        scores["MIG_p"] = result.score
        names_of = list(dataset.class_names) or [str(c) for c in classes]
        details["MIG_p"] = {"classes": [names_of[c] for c in classes],
                            "per_factor": result.per_factor.tolist(),
                            "mutual_info": result.mutual_info.tolist()}
    else:
        skipped.append("MIG_p (no labels)")

    geometry = [names.index(f) for f in MASK_FACTOR_NAMES if f in names]
    if factors is not None and geometry and _varying(factors[:, geometry]).all():
        result = mig(codes, factors[:, geometry], BINS)
        scores["MIG_hf"] = result.score
        details["MIG_hf"] = {"factors": [names[k] for k in geometry],
                             "per_factor": result.per_factor.tolist(),
                             "mutual_info": result.mutual_info.tolist()}
    else:
        skipped.append("MIG_hf (no varying eccentricity/orientation/size factors)")

    psnr_set = held_out if held_out is not None and len(held_out) else dataset
    x, x_hat = reconstructions(model, psnr_set)
    result = psnr(x, x_hat)
    scores["PSNR"] = result.score
    params["psnr_on"] = "held_out" if psnr_set is held_out else "evaluated split"
    params["psnr_images"] = len(psnr_set)
    details["PSNR"] = {"per_image": result.per_image.tolist()}

    if labels is not None:
        components = len(np.unique(labels)) if components is None else components
        nmi = gmm_nmi(codes, labels, components, realizations, covariance, seed)
        scores["NMI"] = nmi.score
        details["NMI"] = {"per_realization": nmi.per_realization.tolist()}
        acc = few_label_accuracy(codes, labels, folds, seed=seed)
        scores["ACC"] = acc.score
        scores["ACC_std"] = acc.std
        scores["NMI_std"] = nmi.std
        details["ACC"] = {"per_fold": acc.per_fold.tolist(), "train_size": acc.train_size.tolist()}
        params.update(components=components, realizations=realizations, covariance=covariance,
                      folds=folds, mlp_hidden=list(acc.hidden))
    else:
        skipped.append("NMI, ACC (no labels)")

    criteria = [k for k, f in enumerate(names) if f not in MASK_FACTOR_NAMES]
    if factors is not None and criteria:
        train = _stratified_thirds(labels, len(codes), seed)
        keep = [k for k in criteria if len(np.unique(factors[train, k])) > 1]
        if len(keep) >= 2:
            result = mig(codes, factors[:, keep], BINS)
            scores["MIG_criteria"] = result.score
            d = dci(codes[train], factors[train][:, keep], codes[~train], factors[~train][:, keep],
                    learner=dci_learner, seed=seed)
            scores["DCI_criteria.disentanglement"] = d.disentanglement
            scores["DCI_criteria.completeness"] = d.completeness
            scores["DCI_criteria.informativeness"] = d.informativeness_test
            details["criteria"] = {"factors": [names[k] for k in keep],
                                   "MIG_per_factor": result.per_factor.tolist(),
                                   "DCI_importance": d.importance.tolist()}
            params["dci_learner"] = dci_learner
        else:
            skipped.append("MIG_criteria, DCI_criteria (fewer than two varying criteria)")
    else:
        skipped.append("MIG_criteria, DCI_criteria (no factors besides the mask's)")

    if draw_figures:
        details["figures"] = _figures(model, dataset, figures, traversal_images, walk_between, walk_dims,
                                      seed)
    params["skipped"] = skipped
    return ProtocolResult(scores, params, details)
