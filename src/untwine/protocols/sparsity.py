"""Evaluation protocol "sparsity": how many channel-to-channel connections a masked model kept open
(nn/masked.py), in total and per layer. A model without masks has every connection open."""

from __future__ import annotations

from pathlib import Path

import torch

from untwine.nn.masked import alive_fractions, masked_layers
from untwine.protocols.result import ProtocolResult


def sparsity(model: torch.nn.Module, dataset, *, seed: int, figures: Path) -> ProtocolResult:
    """Scores ``open_connections`` (fraction over all masked connections, 1.0 without masks) and
    ``closed_layers`` (masked layers with no connection left open); per-layer fractions in details."""
    fractions = alive_fractions(model)
    total = fractions.pop("total", 1.0)
    sizes = {name: int(layer.mask.log_alpha.numel()) for name, layer in masked_layers(model).items()}
    scores = {"open_connections": total, "closed_layers": float(sum(f == 0 for f in fractions.values()))}
    details = {"open_per_layer": fractions, "connections_per_layer": sizes}
    return ProtocolResult(scores, {"gate": "hard concrete, evaluation value > 0"}, details)
