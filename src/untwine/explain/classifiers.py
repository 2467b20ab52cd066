"""Classifiers and regressors on latent codes (paper 003: a linear model, a 2-layer MLP, and the
6-layer fully connected network of 100 units with residual connections of its Figure 1), an
end-to-end CNN on pixels to compare against, and ROC/AUC through ``sklearn.metrics``.

Every model maps [B, D] -> [B, K] logits (K classes; K = 1 for a regressor or a one-output
classifier whose probability is ``sigmoid``). ``EndToEnd`` chains an encoder and a latent classifier
into one classifier on pixels, the model the attribution baselines explain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

Kind = Literal["linear", "mlp", "resmlp"]


class ResidualMLP(nn.Module):
    """Paper 003, Figure 1: 6 fully connected layers of ``width`` units (SELU), a residual connection
    around each hidden layer after the first, then a linear output layer."""

    def __init__(self, in_features: int, out_features: int, width: int = 100, layers: int = 6) -> None:
        super().__init__()
        self.first = nn.Linear(in_features, width)
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(layers - 1))
        self.out = nn.Linear(width, out_features)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.selu(self.first(z))
        for layer in self.hidden:
            h = h + F.selu(layer(h))
        return self.out(h)


def latent_classifier(kind: Kind, in_features: int, out_features: int, width: int = 100) -> nn.Module:
    """``linear`` (logistic / linear regression), ``mlp`` (2 layers, ``width`` hidden units) or
    ``resmlp`` (Figure 1)."""
    if kind == "linear":
        return nn.Linear(in_features, out_features)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, out_features))
    if kind == "resmlp":
        return ResidualMLP(in_features, out_features, width)
    raise ValueError(f"unknown classifier kind {kind!r}; expected 'linear', 'mlp' or 'resmlp'")


def train_classifier(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    regression: bool = False,
) -> nn.Module:
    """Fit ``model`` to (inputs, targets) with Adam on random minibatches; returns it in eval mode.

    Classification: cross entropy on K >= 2 logits, or binary cross entropy on one logit (0/1 targets).
    ``regression``: mean squared error on one output.
    """
    if len(inputs) != len(targets):
        raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(steps):
        rows = torch.randint(len(inputs), (min(batch_size, len(inputs)),), generator=generator)
        out = model(inputs[rows])
        if regression or out.shape[1] == 1:
            target = targets[rows].float().view_as(out)
            loss = F.mse_loss(out, target) if regression else F.binary_cross_entropy_with_logits(out, target)
        else:
            loss = F.cross_entropy(out, targets[rows].long())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities [B, K]: softmax over K >= 2 logits; sigmoid of one logit as P(class 1)."""
    return torch.sigmoid(logits) if logits.shape[1] == 1 else logits.softmax(1)


class EndToEnd(nn.Module):
    """Pixels -> encoder -> latent classifier -> class probabilities: one classifier on images."""

    def __init__(self, encode: Callable[[torch.Tensor], torch.Tensor], classifier: nn.Module) -> None:
        super().__init__()
        self.encode = encode
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = probabilities(self.classifier(self.encode(x)))
        return torch.cat([1 - probs, probs], 1) if probs.shape[1] == 1 else probs


@dataclass
class RocResult:
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


def roc(scores: np.ndarray, labels: np.ndarray) -> RocResult:
    """ROC curve and AUC of ``scores`` (higher = positive) against 0/1 ``labels`` (sklearn.metrics)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return RocResult(fpr, tpr, float(roc_auc_score(labels, scores)))


def roc_figure(curves: dict[str, RocResult], title: str = "") -> Figure:
    """The ROC curves of several classifiers on one plot, AUC in the legend."""
    figure = Figure(figsize=(4.5, 4.5))
    ax = figure.subplots()
    for name, result in curves.items():
        ax.plot(result.fpr, result.tpr, label=f"{name} (AUC {result.auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return figure
