"""Visual rationales by latent space optimization (paper 003, eq. 1 and Algorithms 1 and 2).

Starting from the code of an image, z_0 = f(x), z moves until the classifier changes its mind while
the decoded image stays close to the reconstruction g(z_0); the rationale is g(z_0) - g(z).

The paper's objective (``method="paper"``, Adam lr 0.1, stop at the first crossing):

    Algorithm 1 (one output h(z)):       minimize  h(z) + gamma * d(z),   d(z) = mean((g(z) - g(z_0))^2)
    Algorithm 2 (h_c(z) = P(c | z)):     minimize  h_m(z) - beta * h_t(z) + gamma * d(z)

Measured on untwine's runs (notes/issue-17.md) that loop crosses the cutoff in one or two steps:
Adam's first step moves every coordinate by lr, d(z_0) = 0 has no gradient yet, so the image term
never acts and the "rationale" is one sign-gradient step. The default (``method="margin"``) is the
constrained problem the paper describes in words, "the smallest change of the image that changes the
decision", solved with a hinge in logit space (as Carlini & Wagner 2017 do for adversarial examples):

    minimize  gamma * d(z) + relu(s(z) + margin)

where s(z) < 0 exactly when the decision has moved as asked:
    one output (Algorithm 1):  s = logit h - logit(cutoff)                (h < cutoff); a regressor's
                               raw output: s = h - cutoff
    K >= 2 (Algorithm 2):      s = max(log h_m - log(cutoff),             (the source class below the cutoff)
                                       max_{c != t} l_c - l_t)            (and the target class on top)
The hinge pushes until the decision has moved by ``margin`` logits, then lets go, so the image term
pulls z back towards z_0 along the plane s = -margin: the penalty binds. Each row keeps the z with
the smallest d(z) among the points where the decision had moved by the margin (s <= -margin; if it
never did, among those where it had moved at all, s < 0), and stops when that kept point has not
improved by ``tolerance`` (relative) for ``patience`` steps, or at ``max_steps``. A row that has not
moved the decision within ``patience`` steps halves its gamma (a penalty method's backoff, as
Carlini & Wagner search their constant), so a large gamma cannot leave a row stuck. Adam's step
size decays with a cosine schedule from ``lr`` to lr/100 over ``max_steps``.

Two more choices, each measured against the alternative on the blob set (notes/issue-17.md):
- ``reencode`` (default on): the classifier judges the decoded image, h(f(g(z))), not z itself.
  Judged on z, the optimizer finds directions the decoder ignores (a VAE's inactive coordinates) and
  moves the latent classifier there: the counterfactual then "reached" the other class while its own
  re-encoding had barely moved (P(present) .46 against .11 on z).
- ``similarity="l1"`` (default): d(z) = mean |g(z) - g(z_0)|. The squared error of the paper
  charges a spread of small changes less than one concentrated change; the absolute error asks for a
  sparse difference, which is what a rationale should be (``"l2"`` is the paper's).

Every row says how it ended (``status``): "reached" (the decision moved as asked), "already" (it had
already moved at z_0: nothing to explain, no step taken, zero rationale) or "max_steps" (it never
moved within the budget; the counterfactual is the last z). ``reached`` is true only for the first.

The printed algorithms have two slips, fixed here as the text means them: Algorithm 2 takes
m = argmin_i h_i(z_0), but the class to move away from is the predicted one, argmax; and both loops
read "until y > rho" while the objective lowers y.

``LatentRationale(classifier, model).attribute(inputs, target=...)`` is the Captum-shaped front end:
input-shaped attributions for a batch, counterfactuals and per-row diagnostics on request. Any
encoder/decoder pair works: a VAE-family model (posterior mean, decoded mean image) or a WGAN-GP
generator with its inversion encoder (``wgan_inversion`` runs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from untwine.explain.classifiers import probabilities
from untwine.models.base import Model
from untwine.models.likelihood import mean_image

Encode = Callable[[torch.Tensor], torch.Tensor]
Decode = Callable[[torch.Tensor], torch.Tensor]
Method = Literal["margin", "paper"]
STATUSES = ("reached", "already", "max_steps")


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
    counterfactual: np.ndarray  # g(z) at the kept z
    difference: np.ndarray  # g(z_0) - g(z): the rationale
    trajectory: np.ndarray  # [steps + 1, B]: the moved-from probability (or value), NaN after the stop
    reached: np.ndarray  # bool [B]: status == "reached"
    steps: np.ndarray  # int [B]: optimizer steps taken (0 for "already")
    source: np.ndarray  # int [B]: the class moved away from (-1 for one output)
    target: np.ndarray  # int [B]: the class moved towards (-1 for one output)
    initial: np.ndarray  # [B, K] probabilities (or the value) at z_0
    final: np.ndarray  # [B, K] at the kept z
    codes: np.ndarray  # [B, D] the kept z
    seconds: float
    status: np.ndarray | None = None  # str [B]: "reached", "already" or "max_steps"
    crossed_at: np.ndarray | None = None  # int [B]: the step at which the decision first moved (-1: never)

    def __post_init__(self) -> None:
        if self.status is None:  # results built by hand (tests, stand-ins) say only reached / not
            self.status = np.where(np.asarray(self.reached, bool), "reached", "max_steps")
        if self.crossed_at is None:
            self.crossed_at = np.where(np.asarray(self.reached, bool), np.asarray(self.steps), -1)

    @property
    def final_class(self) -> np.ndarray:
        return self.final.argmax(1) if self.final.shape[1] > 1 else (self.final[:, 0] >= 0.5).astype(int)

    @property
    def change(self) -> np.ndarray:
        """[B] mean absolute change of the image, mean |g(z_0) - g(z)| (minimality)."""
        return np.abs(self.difference).reshape(len(self.difference), -1).mean(1)

    def describe(self, row: int, class_names: Sequence[str] = ()) -> str:
        """One line saying how row ``row`` ended, e.g. for the CLI."""
        names = list(class_names)

        def label(c: int) -> str:
            return names[c] if 0 <= c < len(names) else str(c)

        source, target = int(self.source[row]), int(self.target[row])
        status = str(self.status[row])
        if status == "already":
            shown = "" if source < 0 else (f"class {label(source)} (P {self.initial[row, source]:.3f}), "
                                           f"target {label(target)} (P {self.initial[row, target]:.3f})")
            shown = shown or f"output {self.initial[row, 0]:.3f}"
            return f"{shown}: already there before any step, nothing to explain"
        if source < 0:
            move = f"output {self.initial[row, 0]:.3f} -> {self.final[row, 0]:.3f}"
        else:
            move = (f"class {label(source)} -> {label(int(self.final_class[row]))} (target {label(target)}; "
                    f"P({label(source)}) {self.initial[row, source]:.3f} -> {self.final[row, source]:.3f}, "
                    f"P({label(target)}) {self.initial[row, target]:.3f} -> {self.final[row, target]:.3f})")
        if status == "max_steps":
            return f"{move}: NOT reached within {self.steps[row]} steps"
        return (f"{move}: reached (first at step {self.crossed_at[row]}, kept the closest; "
                f"{self.steps[row]} steps)")


def _decision(logits: torch.Tensor, source: torch.Tensor, goal: torch.Tensor, cutoff: float,
              regression: bool) -> torch.Tensor:
    """s(z) [B]: < 0 exactly when the decision has moved as asked (see the module doc)."""
    if logits.shape[1] == 1:
        if regression:
            return logits[:, 0] - cutoff
        return logits[:, 0] - math.log(cutoff / (1 - cutoff))
    rows = torch.arange(len(logits), device=logits.device)
    below = logits.log_softmax(1)[rows, source] - math.log(cutoff)
    others = logits.clone()
    others[rows, goal] = -torch.inf
    on_top = others.max(1).values - logits[rows, goal]
    return torch.maximum(below, on_top)


def rationale(
    encode: Encode,
    decode: Decode,
    classifier: nn.Module,
    images: torch.Tensor,
    target: int | Sequence[int] | None = None,
    gamma: float = 100.0,
    beta: float = 1.0,
    lr: float = 0.05,
    max_steps: int = 1000,
    cutoff: float = 0.5,
    regression: bool = False,
    progress: Callable[[int, int], None] | None = None,
    method: Method = "margin",
    margin: float = 1.0,
    patience: int = 100,
    tolerance: float = 1e-3,
    source: int | Sequence[int] | None = None,
    reencode: bool | None = None,
    similarity: Literal["l1", "l2"] | None = None,
) -> RationaleResult:
    """Rationales for ``images`` [B, C, H, W] in [0, 1] (see the module doc).

    ``classifier`` maps codes [B, D] to logits [B, K]. K = 1 runs Algorithm 1 on sigmoid(logit)
    (or on the raw output with ``regression``); K >= 2 runs Algorithm 2, moving from ``source``
    (default: each row's predicted class) towards ``target`` (one class for all rows, one per row,
    or None: each row's most probable class other than the source). ``method``: "margin" (default,
    the constrained form) or "paper" (the printed objective, stopping at the first crossing).
    ``gamma``: image similarity weight; ``beta``: target weight ("paper" only); ``margin``: logits
    past the decision the hinge asks for ("margin" only); ``reencode``: judge the decoded image,
    starting from the reconstruction's class; ``similarity``: "l1" or "l2" (None: True and "l1" for
    "margin", the paper's False and "l2" for "paper"). ``progress(step, max_steps)`` is called before
    each step (the explorer's progress bar).
    """
    began = time.perf_counter()
    for name, value in (("gamma", gamma), ("beta", beta), ("margin", margin), ("tolerance", tolerance)):
        if value < 0:
            raise ValueError(f"{name} must be non-negative, got {value}")
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if max_steps < 0 or patience < 1:
        raise ValueError(f"max_steps must be >= 0 and patience >= 1, got {max_steps} and {patience}")
    if method not in ("margin", "paper"):
        raise ValueError(f"method must be 'margin' or 'paper', got {method!r}")
    reencode = method == "margin" if reencode is None else reencode
    similarity = ("l1" if method == "margin" else "l2") if similarity is None else similarity
    if similarity not in ("l1", "l2"):
        raise ValueError(f"similarity must be 'l1' or 'l2', got {similarity!r}")
    if not regression and not 0 < cutoff < 1:
        raise ValueError(f"cutoff must be a probability in (0, 1), got {cutoff}")
    was_training = classifier.training
    classifier.requires_grad_(False).eval()
    with torch.no_grad():
        z0 = encode(images).detach()
        reconstruction = decode(z0).detach()
        logits0 = classifier(encode(reconstruction) if reencode else z0)
    batch, outputs = logits0.shape
    device = z0.device

    def output(logits: torch.Tensor) -> torch.Tensor:
        return logits if regression else probabilities(logits)

    def class_rows(value: int | Sequence[int], name: str) -> torch.Tensor:
        rows = torch.as_tensor(value, device=device).long().expand(batch).clone()
        if int(rows.min()) < 0 or int(rows.max()) >= outputs:
            raise ValueError(f"{name} {value} is not a class index 0..{outputs - 1}")
        return rows

    initial = output(logits0)
    if outputs == 1:
        from_class = torch.full((batch,), -1, device=device)
        goal = from_class.clone()
    else:
        from_class = initial.argmax(1) if source is None else class_rows(source, "source class")
        if target is None:
            others = initial.clone()
            others[torch.arange(batch, device=device), from_class] = -1.0
            goal = others.argmax(1)
        else:
            goal = class_rows(target, "target")
            if source is not None and bool((goal == from_class).any()):
                raise ValueError(f"target {target} is the class moved away from; choose another class")

    def moved_from(out: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return out[:, 0] if outputs == 1 else out[torch.arange(len(idx), device=device), from_class[idx]]

    with torch.no_grad():
        already = (_decision(logits0, from_class, goal, cutoff, regression) < 0).cpu().numpy()
    if outputs > 1:  # a row whose predicted class is the target is there already
        already |= (goal == from_class).cpu().numpy()
    z = z0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(max_steps, 1), eta_min=lr / 100)
    trajectory = np.full((max_steps + 1, batch), np.nan)
    steps = np.zeros(batch, dtype=int)
    crossed_at = np.full(batch, -1)
    best_z = z0.clone()
    best_distance = torch.full((batch,), torch.inf, device=device)
    best_meets = torch.zeros(batch, dtype=torch.bool, device=device)
    weight = torch.full((batch,), float(gamma), device=device)  # per row: halved while it cannot move
    since_better = np.zeros(batch, dtype=int)
    active = torch.as_tensor(~already, device=device)
    rows_all = torch.arange(batch, device=device)
    for step in range(max_steps + 1):
        if not bool(active.any()):
            break
        if progress is not None:
            progress(step, max_steps)
        idx = rows_all[active]
        idx_np = idx.cpu().numpy()
        decoded = decode(z[idx])
        logits = classifier(encode(decoded) if reencode else z[idx])
        out = output(logits)
        score = _decision(logits, from_class[idx], goal[idx], cutoff, regression)
        change = (decoded - reconstruction[idx]).flatten(1)
        distance = change.abs().mean(1) if similarity == "l1" else change.square().mean(1)
        trajectory[step, idx_np] = moved_from(out, idx).detach().cpu().numpy()
        moved = (score < 0).detach()
        first = moved.cpu().numpy() & (crossed_at[idx_np] < 0)
        crossed_at[idx_np[first]] = step
        # keep the closest point where the decision had moved by the margin (else the closest where it
        # had moved at all); count the steps since it last improved
        meets = (score <= -margin).detach() if method == "margin" else moved
        closer = distance.detach() < best_distance[idx] * (1 - tolerance)
        better = moved & ((meets & ~best_meets[idx]) | ((meets == best_meets[idx]) & closer))
        best_distance[idx[better]] = distance.detach()[better]
        best_meets[idx[better]] = meets[better]
        best_z[idx[better]] = z.detach()[idx[better]]
        better_np = better.cpu().numpy()
        since_better[idx_np] = np.where(better_np, 0, since_better[idx_np] + 1)
        steps[idx_np] = step
        if method == "paper":
            stop = moved.cpu().numpy()
        else:
            stop = (crossed_at[idx_np] >= 0) & (since_better[idx_np] >= patience)
        if step == max_steps:
            stop = np.ones_like(stop)
        active[idx[torch.as_tensor(stop, device=device)]] = False
        never = torch.as_tensor(idx_np[stop & (crossed_at[idx_np] < 0)], device=device, dtype=torch.long)
        best_z[never] = z.detach()[never]  # the last z of a row that never moved: shown, but not "reached"
        keep = torch.as_tensor(~stop, device=device)
        if not bool(keep.any()):
            break
        if method == "paper":
            objective = moved_from(out, idx) + gamma * distance
            if outputs > 1:
                objective = objective - beta * out[torch.arange(len(idx), device=device), goal[idx]]
        else:
            # a row that has not moved the decision in ``patience`` steps halves its image weight
            # (the penalty method's backoff): the weight stays as large as still lets it move
            stuck = torch.as_tensor((crossed_at[idx_np] < 0) & ((step + 1) % patience == 0), device=device)
            weight[idx[stuck]] = weight[idx[stuck]] / 2
            objective = weight[idx] * distance + torch.relu(score + margin)
        optimizer.zero_grad(set_to_none=True)
        objective[keep].sum().backward()  # rows are independent: the sum's gradient is each row's own
        optimizer.step()
        schedule.step()
    status = np.where(already, "already", np.where(crossed_at >= 0, "reached", "max_steps"))
    with torch.no_grad():
        best_z[torch.as_tensor(already, device=device)] = z0[torch.as_tensor(already, device=device)]
        counterfactual = decode(best_z)
        final = output(classifier(encode(counterfactual) if reencode else best_z))
    classifier.requires_grad_(True).train(was_training)

    def array(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy()

    return RationaleResult(
        original=array(images), reconstruction=array(reconstruction), counterfactual=array(counterfactual),
        difference=array(reconstruction - counterfactual), trajectory=trajectory[: int(steps.max()) + 1],
        reached=status == "reached", steps=steps, source=array(from_class), target=array(goal),
        initial=array(initial), final=array(final), codes=array(best_z), seconds=time.perf_counter() - began,
        status=status, crossed_at=crossed_at,
    )


class LatentRationale:
    """Captum-shaped rationale: ``attribute(inputs, target=c)`` explains class ``c`` of a latent
    classifier (codes -> logits) through a model that encodes and decodes.

        explainer = LatentRationale(classifier, model)            # a VAE-family or wgan_inversion model
        maps = explainer.attribute(images, target=9, towards=4)   # [B, C, H, W], g(z_0) - g(z)
        maps, result = explainer.attribute(images, target=9, towards=4, return_result=True)

    As in Captum, ``target`` is the class being explained (here: moved away from; default each
    row's predicted class); ``towards`` is the class Algorithm 2 moves to (default each row's most
    probable other class). Positive attribution: brighter in the image than in its counterfactual.
    ``result`` is the ``RationaleResult`` (counterfactuals, reconstructions, per-row status, steps,
    probabilities). ``options`` go to ``rationale`` (method, gamma, lr, max_steps, cutoff, margin...).
    ``algorithm`` replaces the rationale function (stand-ins in tests take its positional
    arguments and ``target``).
    """

    def __init__(self, classifier: nn.Module, model: Model | None = None, *, encode: Encode | None = None,
                 decode: Decode | None = None, algorithm: Callable[..., Any] | None = None,
                 **options: Any) -> None:
        if model is not None:
            encode, decode = pair_of(model)
        if encode is None or decode is None:
            raise ValueError("LatentRationale needs a model that encodes, or both encode and decode")
        self.model = model
        self.classifier, self.encode, self.decode = classifier, encode, decode
        self.algorithm = algorithm or rationale
        self.options = options

    def explain(self, inputs: torch.Tensor, target: int | Sequence[int] | None = None,
                towards: int | Sequence[int] | None = None,
                progress: Callable[[int, int], None] | None = None, **options: Any) -> Any:
        """The full ``RationaleResult`` of ``inputs`` [B, C, H, W] in [0, 1]."""
        kwargs: dict[str, Any] = {"target": towards, **self.options, **options}
        if target is not None:
            kwargs["source"] = target
        if progress is not None:
            kwargs["progress"] = progress
        if self.model is None:
            return self.algorithm(self.encode, self.decode, self.classifier, inputs, **kwargs)
        # explain the model as it predicts (eval mode), and keep gradients off its weights: only the
        # code is optimized, and the model's own training state is restored afterwards
        was_training = self.model.training
        needs_grad = [p.requires_grad for p in self.model.parameters()]
        self.model.eval().requires_grad_(False)
        try:
            return self.algorithm(self.encode, self.decode, self.classifier, inputs, **kwargs)
        finally:
            self.model.train(was_training)
            for parameter, flag in zip(self.model.parameters(), needs_grad, strict=True):
                parameter.requires_grad_(flag)

    def attribute(self, inputs: torch.Tensor, target: int | Sequence[int] | None = None,
                  towards: int | Sequence[int] | None = None, return_result: bool = False,
                  **options: Any) -> torch.Tensor | tuple[torch.Tensor, RationaleResult]:
        """Attributions shaped like ``inputs``: the rationale g(z_0) - g(z) of each row."""
        result = self.explain(inputs, target, towards, **options)
        maps = torch.as_tensor(result.difference, dtype=inputs.dtype, device=inputs.device)
        return (maps, result) if return_result else maps


def overlay(ax, image: np.ndarray, difference: np.ndarray, alpha: float = 0.75) -> None:
    """A signed map (``difference`` [C, H, W] or [H, W]) on a diverging colormap, normalized to its own
    largest absolute value, over the faint grey ``image`` [C, H, W] (red: present in the original,
    removed in the counterfactual; blue: added). An all-zero map is shown as such, not stretched."""
    ax.imshow(image.mean(0), cmap="gray", vmin=0, vmax=1)
    heat = difference.mean(0) if difference.ndim == 3 else difference
    limit = float(np.abs(heat).max())
    ax.imshow(heat / limit if limit > 0 else heat, cmap="bwr", vmin=-1, vmax=1, alpha=alpha)


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
    status = np.asarray(result.status)
    for r, i in enumerate(rows):
        grey = dict(cmap="gray", vmin=0, vmax=1)
        axes[r, 0].imshow(result.original[i].mean(0), **grey)
        axes[r, 1].imshow(result.reconstruction[i].mean(0), **grey)
        axes[r, 2].imshow(result.counterfactual[i].mean(0), **grey)
        overlay(axes[r, 3], result.original[i], result.difference[i])
        moved = label(int(result.source[i])) if result.source[i] >= 0 else "output"
        titles = ["original", "reconstruction",
                  f"counterfactual ({label(int(result.final_class[i]))})",
                  f"rationale (|change| {np.abs(result.difference[i]).mean():.3f})"]
        for ax, title in zip(axes[r, :4], titles, strict=True):
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        curve = result.trajectory[: result.steps[i] + 1, i]
        axes[r, 4].plot(curve)
        ended = {"reached": "reached", "already": "already there", "max_steps": "NOT reached"}
        how = ended.get(str(status[i]), str(status[i]))
        axes[r, 4].set_title(f"P({moved}): {how}, {result.steps[i]} steps", fontsize=8)
        axes[r, 4].set_xlabel("step", fontsize=7)
        axes[r, 4].tick_params(labelsize=7)
    figure.tight_layout()
    return figure
