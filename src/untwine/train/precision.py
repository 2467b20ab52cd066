"""Mixed precision: the dtype the networks compute in during training.

``bf16`` runs each network's forward pass (the model's child modules: encoder, decoder, critic,
discriminator) under ``torch.autocast``, so its matrix products and convolutions compute in bfloat16,
and casts what the network returns back to float32. The weights, their gradients, Adam's moments and
every loss term stay float32: the posterior, the total-correlation estimators, DIP-VAE's covariances
and the reconstruction are computed from float32 outputs outside autocast, where a bfloat16 sum of
4,096 pixels or a bfloat16 log-sum-exp would lose the digits the objective's terms differ in.
``auto`` chooses bf16 where the hardware computes it natively, and fp32 everywhere else:

- CUDA devices: bf16.
- x86 CPUs with AVX512-BF16 (``vdpbf16ps``: two bf16 products per fp32 lane) or AMX tiles: bf16.
- Arm CPUs whose ``/proc/cpuinfo`` lists the ``bf16`` extension: bf16.
- other CPUs: fp32. oneDNN accepts bf16 there too, but without native bf16 instructions it has no
  reason to be faster (not measured: this project's machines have AVX512-BF16).

``cpu_bf16_features()`` says which of those features this CPU reported; ``fit()`` writes the choice
and the features into the run's summary.json, so a run says how it was computed.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn

Precision = Literal["fp32", "bf16"]


def cpu_bf16_features() -> list[str]:
    """The native bf16 features this CPU reports (empty when it has none)."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i686"):
        found = []
        if torch.cpu._is_avx512_bf16_supported():
            found.append("avx512_bf16")
        if torch.cpu._is_amx_tile_supported():
            found.append("amx_tile")
        return found
    if machine in ("aarch64", "arm64"):
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
                flags = {word for line in fh if line.lower().startswith("features") for word in line.split()}
        except OSError:
            return []
        return ["bf16"] if "bf16" in flags else []
    return []


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """``train.precision`` made concrete for ``device`` (see the module doc for what ``auto`` picks)."""
    if requested in ("fp32", "bf16"):
        return requested  # type: ignore[return-value]
    if requested != "auto":
        raise ValueError(f"train.precision must be auto, fp32 or bf16; got {requested!r}")
    if device.type == "cuda":
        return "bf16"
    if device.type == "cpu" and cpu_bf16_features():
        return "bf16"
    return "fp32"


def _float32(output):
    if isinstance(output, torch.Tensor):
        return output.float() if output.is_floating_point() else output
    if isinstance(output, tuple | list):
        return type(output)(_float32(item) for item in output)
    return output


def _networks(module: nn.Module) -> Iterator[nn.Module]:
    """The networks a model's objectives call: its children, and those of any child that is itself
    a model (a wrapper around one), but not the insides of a network."""
    for child in module.children():
        if callable(getattr(child, "training_steps", None)):
            yield from _networks(child)
        else:
            yield child


@contextlib.contextmanager
def networks_in(model: nn.Module, precision: Precision, device: torch.device) -> Iterator[None]:
    """Within the block, each of ``model``'s networks computes in ``precision`` and returns float32.

    The networks are the model's child modules (encoder, decoder, critic, discriminator), looked for
    inside children that are models themselves (a wrapper around a model).
    The networks' ``forward`` is wrapped for the block's duration (an instance attribute, so the
    state dict, ``torch.compile`` and DDP's wrapping see the same modules) and restored after it.
    """
    if precision == "fp32":
        yield
        return
    wrapped = []
    for network in _networks(model):
        forward, own = network.forward, network.__dict__.get("forward")

        def in_bf16(*args, _forward=forward, **kwargs):
            with torch.autocast(device.type, dtype=torch.bfloat16):
                return _float32(_forward(*args, **kwargs))

        network.forward = in_bf16
        wrapped.append((network, own))
    try:
        yield
    finally:
        for network, own in wrapped:
            if own is None:
                del network.forward  # back to the class's forward
            else:
                network.forward = own
