"""One run on several processes: Lightning Fabric with DDP, chosen by ``train.devices > 1``.

``make_fabric()`` turns a train section into a ``Fabric``; ``fit(..., fabric=fabric)`` then wraps
the model with ``setup_module`` and calls each training step's loss *through* the wrapped module
(``mark_forward_method``), so DDP's gradient all-reduce runs on every backward. Every rank builds
the same model from the same seed; DDP broadcasts rank 0's weights anyway. Ranks draw disjoint
batches (draw ``d`` of rank ``r`` is the sampler's batch ``d * world_size + r``), so a run is as
deterministic as a single-process one and ``batch_size`` is per process. Only rank 0 writes.

Lightning Fabric is imported here only, so the single-process path never loads it.
"""

from __future__ import annotations

from types import MethodType

from untwine.models.base import Model, TrainingStep
from untwine.train.config import TrainConfig


def needs_unused_parameter_search(model: Model) -> bool:
    """DDP must look for parameters a step leaves without gradient: several steps (a critic and a
    generator), or parameters no step trains."""
    steps = model.training_steps()
    trained = {id(p) for step in steps for p in step.parameters}
    return len(steps) > 1 or any(id(p) not in trained for p in model.parameters() if p.requires_grad)


def make_fabric(config: TrainConfig, model: Model):
    """A ``Fabric`` for ``config.devices`` x ``config.num_nodes`` processes (not yet launched)."""
    from lightning_fabric import Fabric
    from lightning_fabric.strategies import DDPStrategy

    accelerator = {"cuda": "cuda", "gpu": "cuda", "cpu": "cpu"}.get(config.device, "auto")
    strategy = DDPStrategy(
        start_method="popen" if config.strategy == "ddp" else "spawn",
        find_unused_parameters=needs_unused_parameter_search(model),
        process_group_backend="gloo" if accelerator == "cpu" else None,
    )
    return Fabric(
        accelerator=accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=strategy,
        # fit() itself runs each network in train.precision (train/precision.py), as in one process
        precision="32-true",
    )


def distributed_losses(fabric, model: Model, steps: list[TrainingStep]):
    """(wrapped model, each step's loss called through it so DDP syncs the gradients)."""
    wrapped = fabric.setup_module(model)
    losses = []
    for step in steps:
        loss = step.loss
        if not (isinstance(loss, MethodType) and loss.__self__ is model):
            raise ValueError(
                f"training step {step.name!r}: with train.devices > 1 its loss must be a method of "
                f"the model (DDP syncs gradients only of calls through the wrapped model), got {loss!r}"
            )
        wrapped.mark_forward_method(loss.__name__)
        losses.append(getattr(wrapped, loss.__name__))
    return wrapped, losses
