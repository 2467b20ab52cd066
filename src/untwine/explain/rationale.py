"""Visual rationales by latent space optimization (paper 003, eq. 1 and Algorithms 1 and 2).

Starting from the code of an image, z_0 = f(x), Adam moves z to lower the classifier's output for
the predicted class while keeping the decoded image close to the reconstruction g(z_0):

    Algorithm 1 (one output h(z), a probability or a regressed value):
        minimize  h(z) + gamma * d(z),                  d(z) = mean((g(z) - g(z_0))^2)
    Algorithm 2 (class probabilities h_c(z) = P(c | z)):
        minimize  h_m(z) - beta * h_t(z) + gamma * d(z),  m = argmax_c h_c(z_0), t = the target class

until the moved-from output has crossed the cutoff, h(z) < cutoff (resp. h_m(z) < cutoff), or
``max_steps`` Adam steps (paper: lr 0.1, at most 5000). The rationale is g(z_0) - g(z).

The printed algorithms have two slips, fixed here as the text means them: Algorithm 2 takes
m = argmin_i h_i(z_0), but the class to move away from is the predicted one, argmax; and both loops
read "until y > rho" while the objective lowers y, so the loop runs until y has dropped below the
cutoff. The paper leaves the weights and the cutoff open; the defaults are gamma = 10 (the image MSE
of [0, 1] images is ~0.01-0.05, so 10 makes it comparable to a probability), beta = 1, cutoff 0.5
(the class is no longer the more probable one of a pair). Rows of a batch are optimized together but
stop on their own: a row that crosses the cutoff keeps the code it had then.

Any encoder/decoder pair works: ``pair_of(model)`` gives it for an untwine model (a VAE's posterior
mean and decoded mean image, or a WGAN-GP generator with its inversion encoder).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from untwine.explain.classifiers import probabilities
from untwine.models.base import Model
from untwine.models.likelihood import mean_image

Encode = Callable[[torch.Tensor], torch.Tensor]
Decode = Callable[[torch.Tensor], torch.Tensor]


def pair_of(model: Model) -> tuple[Encode, Decode]:
    """(f, g) of an untwine model: images in [0, 1] -> posterior mean codes -> images in [0, 1]."""
    if not model.encodes:
        raise ValueError(f"{type(model).__name__} has no encoder; use its inversion (wgan_inversion) run")
    return (lambda x: model.encode(x).mean), (lambda z: mean_image(model.decode(z)))


@dataclass
class RationaleResult:
    """One entry per image of the batch (numpy arrays; images [B, C, H, W] in [0, 1])."""

    original: np.ndarray
    reconstruction: np.ndarray  # g(z_0)
    counterfactual: np.ndarray  # g(z) at the stop
    difference: np.ndarray  # g(z_0) - g(z): the rationale
    trajectory: np.ndarray  # [max_steps + 1, B]: the moved-from output at each step, NaN after the stop
    reached: np.ndarray  # bool [B]: the output crossed the cutoff within max_steps
    steps: np.ndarray  # int [B]: Adam steps taken
    source: np.ndarray  # int [B]: the class moved away from (-1 for one output)
    target: np.ndarray  # int [B]: the class moved towards (-1 for one output)
    initial: np.ndarray  # [B, K] probabilities (or the value) at z_0
    final: np.ndarray  # [B, K] at the stop
    codes: np.ndarray  # [B, D] the final z
    seconds: float

    @property
    def final_class(self) -> np.ndarray:
        return self.final.argmax(1) if self.final.shape[1] > 1 else (self.final[:, 0] >= 0.5).astype(int)


def rationale(
    encode: Encode,
    decode: Decode,
    classifier: nn.Module,
    images: torch.Tensor,
    target: int | Sequence[int] | None = None,
    gamma: float = 10.0,
    beta: float = 1.0,
    lr: float = 0.1,
    max_steps: int = 5000,
    cutoff: float = 0.5,
    regression: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RationaleResult:
    """Rationales for ``images`` [B, C, H, W] in [0, 1] (see the module doc).

    ``classifier`` maps codes [B, D] to logits [B, K]. K = 1 runs Algorithm 1 on sigmoid(logit)
    (or on the raw output with ``regression``); K >= 2 runs Algorithm 2 on the softmax, moving from
    the predicted class towards ``target`` (one class for all rows, one per row, or None: each row's
    second most probable class). ``gamma``: image similarity weight; ``beta``: target weight.
    ``progress(step, max_steps)`` is called before each step (the explorer's progress bar).
    """
    import time

    began = time.perf_counter()
    for name, value in (("gamma", gamma), ("beta", beta), ("lr", lr)):
        if value < 0 or (name == "lr" and value == 0):
            raise ValueError(f"{name} must be {'positive' if name == 'lr' else 'non-negative'}, got {value}")
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    classifier.requires_grad_(False)
    with torch.no_grad():
        z0 = encode(images).detach()
        reconstruction = decode(z0).detach()
        logits = classifier(z0)
    batch, outputs = logits.shape
    rows = torch.arange(batch, device=z0.device)

    def output(logits: torch.Tensor) -> torch.Tensor:
        return logits if regression else probabilities(logits)

    initial = output(logits)
    if outputs == 1:
        source = torch.full((batch,), -1, device=z0.device)
        goal = source.clone()
    else:
        source = initial.argmax(1)
        if target is None:
            goal = initial.topk(2, dim=1).indices[:, 1]
        else:
            goal = torch.as_tensor(target, device=z0.device).expand(batch).clone()
            if int(goal.min()) < 0 or int(goal.max()) >= outputs:
                raise ValueError(f"target {target} is not a class index 0..{outputs - 1}")

    def moved_from(out: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return out[:, 0] if outputs == 1 else out[torch.arange(len(idx)), source[idx]]

    z = z0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    trajectory = np.full((max_steps + 1, batch), np.nan)
    steps = np.full(batch, max_steps)
    reached = np.zeros(batch, dtype=bool)
    final_z = z0.clone()
    active = torch.ones(batch, dtype=torch.bool, device=z0.device)
    for step in range(max_steps + 1):
        if progress is not None:
            progress(step, max_steps)
        idx = rows[active]
        out = output(classifier(z[idx]))
        y = moved_from(out, idx)
        trajectory[step, idx.cpu().numpy()] = y.detach().cpu().numpy()
        crossed = (y < cutoff).detach()
        if step == max_steps:
            crossed = torch.ones_like(crossed)
        stopping = idx[crossed]
        if len(stopping):
            final_z[stopping] = z.detach()[stopping]
            steps[stopping.cpu().numpy()] = step
            reached[stopping.cpu().numpy()] = (y.detach()[crossed] < cutoff).cpu().numpy()
            active[stopping] = False
        if not bool(active.any()):
            break
        keep = ~crossed
        idx, y, out = idx[keep], y[keep], out[keep]
        distance = (decode(z[idx]) - reconstruction[idx]).square().flatten(1).mean(1)
        objective = y + gamma * distance
        if outputs > 1:
            objective = objective - beta * out[torch.arange(len(idx)), goal[idx]]
        optimizer.zero_grad(set_to_none=True)
        objective.sum().backward()  # rows are independent: the sum's gradient is each row's own
        optimizer.step()
    with torch.no_grad():
        counterfactual = decode(final_z)
        final = output(classifier(final_z))
    classifier.requires_grad_(True)

    def array(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy()

    return RationaleResult(
        original=array(images), reconstruction=array(reconstruction), counterfactual=array(counterfactual),
        difference=array(reconstruction - counterfactual), trajectory=trajectory, reached=reached,
        steps=steps, source=array(source), target=array(goal), initial=array(initial), final=array(final),
        codes=array(final_z), seconds=time.perf_counter() - began,
    )


def overlay(ax, image: np.ndarray, difference: np.ndarray, alpha: float = 0.6) -> None:
    """``image`` [C, H, W] in grey with the signed ``difference`` [C, H, W] on top as a heatmap
    (red: present in the original, removed in the counterfactual; blue: added)."""
    ax.imshow(image.mean(0), cmap="gray", vmin=0, vmax=1)
    heat = difference.mean(0)
    limit = max(float(np.abs(heat).max()), 1e-6)
    ax.imshow(heat, cmap="bwr", vmin=-limit, vmax=limit, alpha=alpha)


def rationale_figure(
    result: RationaleResult, rows: Sequence[int] | None = None, class_names: Sequence[str] = ()
) -> Figure:
    """Paper 003's Figures 4 and 7, one row per image: original, reconstruction, counterfactual,
    the rationale overlaid on the original, and the trajectory of the prediction."""
    rows = list(range(min(len(result.steps), 8))) if rows is None else list(rows)
    names = list(class_names)

    def label(c: int) -> str:
        return names[c] if 0 <= c < len(names) else str(c)

    figure = Figure(figsize=(11, 2.1 * len(rows)))
    axes = figure.subplots(len(rows), 5, squeeze=False)
    for r, i in enumerate(rows):
        grey = dict(cmap="gray", vmin=0, vmax=1)
        axes[r, 0].imshow(result.original[i].mean(0), **grey)
        axes[r, 1].imshow(result.reconstruction[i].mean(0), **grey)
        axes[r, 2].imshow(result.counterfactual[i].mean(0), **grey)
        overlay(axes[r, 3], result.original[i], result.difference[i])
        moved = label(int(result.source[i])) if result.source[i] >= 0 else "output"
        titles = ["original", "reconstruction",
                  f"counterfactual ({label(int(result.final_class[i]))})", "rationale"]
        for ax, title in zip(axes[r, :4], titles, strict=True):
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        curve = result.trajectory[: result.steps[i] + 1, i]
        axes[r, 4].plot(curve)
        axes[r, 4].set_title(f"{moved}: {'crossed' if result.reached[i] else 'not crossed'} "
                             f"in {result.steps[i]} steps", fontsize=8)
        axes[r, 4].set_xlabel("step", fontsize=7)
        axes[r, 4].tick_params(labelsize=7)
    figure.tight_layout()
    return figure
