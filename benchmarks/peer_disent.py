"""disent's BetaTcVae with the Burgess/Locatello conv64 network, in a plain loop over training_step.

disent's own EncoderConv64 pads its convolutions by 2 (a 5x5x64 = 1600 map before fc 256, 911,701
parameters); the network of Burgess et al. / Locatello et al. pads by 1 (4x4x64, 764,245). To time
the same network as the other contenders, the encoder is disent's class with its layers rebuilt at
padding 1; the decoder is disent's DecoderConv64 unchanged (it already matches). Reconstruction:
``bce`` on logits, ``loss_reduction="mean_sum"``, Adam lr 1e-4, beta 6 (disent's estimator defaults).

disent imports torchvision at import time, and the torchvision that pip resolves beside the CPU torch
2.13.0 cannot be imported; peer_venvs.py removes it and an import-only stand-in is put in its place
(it provides the names disent imports; calling any of them raises). Nothing here calls them.
"""

from __future__ import annotations

import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import throughput_common as common  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402


def _torchvision_stand_in() -> str:
    try:
        import torchvision

        return f"real {torchvision.__version__}"
    except Exception as exc:  # ImportError, or RuntimeError from the operator registry
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
    for name in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
        del sys.modules[name]

    class Unavailable:  # a class, so that disent can both call it and subclass it at import
        def __init__(self, *_a, **_k) -> None:
            raise RuntimeError("torchvision stand-in: not available in this benchmark venv")

    def any_name(name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unavailable

    modules = {n: types.ModuleType(n) for n in (
        "torchvision", "torchvision.models", "torchvision.transforms",
        "torchvision.transforms.functional", "torchvision.datasets")}
    for name, module in modules.items():
        module.__getattr__ = any_name  # every public name: Unavailable
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    sys.modules.update(modules)
    return f"stand-in ({reason})"


# lightning (through torchmetrics) probes for torchvision on import: import it before the stand-in
import lightning  # noqa: E402, F401

TORCHVISION = _torchvision_stand_in()

from disent.frameworks.vae import BetaTcVae  # noqa: E402
from disent.model import AutoEncoder  # noqa: E402
from disent.model.ae import DecoderConv64, EncoderConv64  # noqa: E402


class EncoderConv64P1(EncoderConv64):
    """disent's EncoderConv64 with padding 1: the Burgess/Locatello network."""

    def __init__(self, x_shape=(1, 64, 64), z_size=10, z_multiplier=2) -> None:
        super().__init__(x_shape=x_shape, z_size=z_size, z_multiplier=z_multiplier)
        self.model = nn.Sequential(
            nn.Conv2d(x_shape[0], 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(inplace=True),
            nn.Linear(256, self.z_total),
        )


def main() -> None:
    args = common.parser(__doc__.splitlines()[0]).parse_args()
    images = torch.from_numpy(common.setup(args))
    model = AutoEncoder(
        encoder=EncoderConv64P1(x_shape=(1, 64, 64), z_size=common.LATENT, z_multiplier=2),
        decoder=DecoderConv64(x_shape=(1, 64, 64), z_size=common.LATENT),
    )
    cfg = BetaTcVae.cfg(optimizer="adam", optimizer_kwargs=dict(lr=common.LR), recon_loss="bce",
                        loss_reduction="mean_sum", beta=common.BETA)
    module = BetaTcVae(model=model, cfg=cfg)
    optimizer = module.configure_optimizers()
    module.train()

    def step(i: int) -> None:
        x = images[i * common.BATCH : (i + 1) * common.BATCH].float()
        common.optimizer_step(optimizer, module.training_step({"x_targ": (x,)}, i))

    timing = common.time_steps(step, args.warmup, args.steps)
    common.emit({"contender": "disent", "loop": "training_step + Adam, plain loop",
                 "network": "disent EncoderConv64 at padding 1 + DecoderConv64",
                 "torchvision": TORCHVISION,
                 "params": sum(p.numel() for p in module.parameters()), **timing})


if __name__ == "__main__":
    main()
