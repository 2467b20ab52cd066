"""The "grouped" evaluation protocol: one run's share of paper 002's Table 1 and Figure 1.

Halevi, "Important Groups First: Encouraging Disentanglement in VAEs" (Grouped-VAE), section 5:
"We estimate mutual information by generating representations for the 10,000 images in our testing
set, and then bin each dimension into 20 bins." On those codes (posterior means):

- ``mig``: the Mutual Information Gap, eq. (12) (metrics/mig.py);
- ``mic.<factor>``: the Mutual Information Concentration of a factor in the first group S (the first
  three dimensions in the paper, Grouped-VAE's z_1; for a beta-VAE simply its first three), eq. (13)
  (metrics/mic.py); Figure 1 shows posX, posY and shape;
- ``reconstruction``: -log p(x|z) per image, z ~ q(z|x), the Bernoulli cross entropy summed over the
  pixels and averaged over the images (Table 1's "reconstruction loss per image"; the training
  term, on held-out images);
- ``reconstruction_first_group``: the same with every dimension after the first group set to zero,
  Grouped-VAE's L_rec,1: how much of the image the first group alone explains.

Run it on the test split (``split: test`` in the evaluate section) to score held-out images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from untwine.metrics._arrays import MetricError
from untwine.metrics._mutual_info import binned_mutual_info
from untwine.metrics.mic import mic
from untwine.metrics.mig import mig
from untwine.models.likelihood import reconstruction_loss
from untwine.protocols.disentanglement import mi_heatmap
from untwine.protocols.result import ProtocolResult

FIGURE = "grouped_mi_matrix.png"


def first_group_size(model: torch.nn.Module, first_group: int | None) -> int:
    """The size of S: ``first_group`` if given, else the model's first latent group."""
    latent_dim = int(model.latent_dim)
    if first_group is None:
        groups = getattr(getattr(model, "config", None), "groups", None)
        if not groups:
            raise MetricError(
                "option first_group: the model has no latent groups; give the number of leading code "
                "dimensions to score (the paper uses 3 for its beta-VAEs)"
            )
        first_group = int(groups[0])
    if not 1 <= first_group < latent_dim:
        raise MetricError(f"option first_group must be in 1..{latent_dim - 1} (the latent has "
                          f"{latent_dim} dimensions); got {first_group}")
    return first_group


def encode_and_reconstruct(
    model: torch.nn.Module, dataset, rows: np.ndarray, first_group: int, seed: int, batch_size: int = 256
) -> tuple[np.ndarray, float, float]:
    """(posterior means [len(rows), D], mean -log p(x|z) per image, the same decoding only the
    first ``first_group`` dimensions of z), in one pass without gradients; z ~ q(z|x) is drawn from
    its own generator seeded with ``seed``, so the numbers do not depend on the global RNG."""
    parameter = next(model.parameters())
    device = parameter.device
    generator = torch.Generator(device).manual_seed(seed)
    likelihood = getattr(model, "likelihood", "bernoulli")
    means, full, first = [], 0.0, 0.0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for chunk in torch.as_tensor(rows, dtype=torch.long).split(batch_size):
                x = dataset.load(chunk, device).images
                posterior = model.encode(x)
                noise = torch.randn(posterior.mean.shape, generator=generator, device=device)
                z = posterior.mean + torch.exp(0.5 * posterior.logvar) * noise
                only_first = torch.cat([z[:, :first_group], torch.zeros_like(z[:, first_group:])], dim=1)
                logits = model.decode(torch.cat([z, only_first])).float()
                full += float(reconstruction_loss(x, logits[: len(x)], likelihood)) * len(x)
                first += float(reconstruction_loss(x, logits[len(x):], likelihood)) * len(x)
                means.append(posterior.mean.double().cpu())
    finally:
        model.train(was_training)
    return torch.cat(means).numpy(), full / len(rows), first / len(rows)


def grouped(
    model: torch.nn.Module,
    dataset,
    *,
    seed: int,
    figures: Path,
    n: int = 10_000,
    bins: int = 20,
    first_group: int | None = None,
    mic_factors: list[str] = ["posX", "posY", "shape"],  # noqa: B006 (pydantic copies it)
    batch_size: int = 256,
) -> ProtocolResult:
    """MIG, MIC of ``mic_factors`` in the first group, and the reconstruction losses on ``n`` rows
    of ``dataset`` drawn without replacement with ``seed`` (all rows when it has fewer)."""
    if getattr(dataset, "factors", None) is None:
        raise MetricError("the dataset has no factors; MIG and MIC compare codes with factors")
    if n < 2:
        raise MetricError(f"option n must be at least 2; got {n}")
    names = list(dataset.factor_names)
    unknown = [f for f in mic_factors if f not in names]
    if unknown:
        raise MetricError(f"option mic_factors: {unknown} are not factors of {dataset.name}; it has {names}")
    size = first_group_size(model, first_group)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(dataset), size=min(n, len(dataset)), replace=False))
    factors = np.asarray(dataset.factors)[rows]
    varying = [k for k in range(factors.shape[1]) if len(np.unique(factors[:, k])) > 1]
    used = [names[k] for k in varying]
    constant = [f for f in mic_factors if f not in used]
    if constant:
        raise MetricError(f"factors {constant} take one value in the {len(rows)} drawn rows; MIC needs "
                          "them to vary")
    codes, reconstruction, reconstruction_first = encode_and_reconstruct(
        model, dataset, rows, size, seed, batch_size)
    factors = factors[:, varying]
    gap = mig(codes, factors, bins)
    concentration = mic(codes, factors, range(size), bins)
    scores = {"mig": gap.score, "reconstruction": reconstruction,
              "reconstruction_first_group": reconstruction_first}
    scores |= {f"mic.{f}": float(concentration.per_factor[used.index(f)]) for f in mic_factors}
    mi, entropy = binned_mutual_info(codes, factors, bins)
    figures.mkdir(parents=True, exist_ok=True)
    mi_heatmap(mi, entropy, used, figures / FIGURE)
    parameters = {
        "n": int(len(rows)),
        "bins": bins,
        "codes": "posterior means",
        "first_group": list(range(size)),
        "reconstruction": f"-log p(x|z), z ~ q(z|x), {getattr(model, 'likelihood', 'bernoulli')}, "
                          "summed over pixels, mean over images",
        "factors": used,
        "dropped_factors": [nm for nm in names if nm not in used],
        "seed": seed,
    }
    details = {
        "mig_per_factor": dict(zip(used, gap.per_factor.tolist(), strict=True)),
        "mic_per_factor": dict(zip(used, concentration.per_factor.tolist(), strict=True)),
        "mutual_info": {"unit": "nats", "layout": "[code dimension][factor]", "factors": used,
                        "matrix": mi.tolist(), "factor_entropy": entropy.tolist()},
    }
    return ProtocolResult(scores, parameters, details)
