"""``fit()``: the one training loop. It knows a model only through its list of training steps.

Each iteration runs every training step of the model in order (a step with ``repeat=k`` runs k
times, each on a fresh batch), one Adam optimizer per step. Batches come from the dataset's
stateless sampler, indexed by a draw counter, so a resumed run draws exactly the batches an
uninterrupted one would; with the RNG states, optimizer moments and the running sums of the
logging window in the checkpoint, resuming on the CPU continues bit for bit, weights and logs alike.
With a Lightning ``fabric`` (``train.devices > 1``) every process runs this loop under DDP; see
``untwine.train.distributed``.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from untwine.core.io import remove_temporary_files
from untwine.data.augment import augment
from untwine.data.batch import Batch
from untwine.models.base import Model
from untwine.train import precision as mixed_precision  # by module: tests stand in for the CPU
from untwine.train.checkpoint import load_state, save_state, save_weights
from untwine.train.config import TrainConfig
from untwine.train.fast import adam, keep_freed_memory
from untwine.train.logging import RunLogger, read_metrics
from untwine.train.record import SUMMARY_FILE, run_record, write_record, write_summary

STATE_FILE = "state.safetensors"
WEIGHTS_FILE = "model.safetensors"


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; the run stopped and its last good checkpoint is kept."""


class ResumeError(ValueError):
    """A run directory's checkpoint cannot continue as asked (e.g. it is past ``train.steps``)."""


@dataclass
class FitResult:
    run_dir: Path
    steps: int
    resumed_from: int
    seconds: float
    images_per_second: float
    last_terms: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0  # training time over every session of the run, from the checkpoint
    total_images_per_second: float = 0.0  # over every session
    precision: str = "fp32"  # what train.precision resolved to on this device (train/precision.py)
    cpu_bf16_features: list[str] = field(default_factory=list)  # what that choice was made from


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device={name!r}, but no CUDA device is available")
    return device


def _on_device(dataset, config: TrainConfig, device: torch.device):
    """``dataset`` with its pixels on ``device`` when ``train.data_on_device`` asks for it."""
    if config.data_on_device == "no" or device.type == "cpu" or not hasattr(dataset, "to"):
        return dataset
    if config.data_on_device == "auto":
        if device.type != "cuda":
            return dataset
        free, _ = torch.cuda.mem_get_info(device)
        if getattr(dataset, "imageset", dataset).nbytes > free // 2:
            return dataset
    return dataset.to(device)


def _memory_format(config: TrainConfig, device: torch.device) -> torch.memory_format:
    if config.memory_format == "channels_last" or (config.memory_format == "auto" and device.type == "cuda"):
        return torch.channels_last
    return torch.contiguous_format


def _in_format(batch: Batch, memory_format: torch.memory_format) -> Batch:
    if memory_format == torch.contiguous_format:
        return batch
    pair = None if batch.pair is None else _in_format(batch.pair, memory_format)
    return replace(batch, images=batch.images.contiguous(memory_format=memory_format), pair=pair)


def _rng_state() -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            state[f"cuda{i}"] = cuda_state
    return state


def _set_rng_state(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["torch"])
    cuda = [state[k] for k in sorted(state) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def _optimizer_state(state: dict) -> dict:
    # parameter ids come back from the file as strings; torch expects the ints it wrote
    return {
        "state": {int(k): v for k, v in state.get("state", {}).items()},
        "param_groups": state["param_groups"],
    }


def _set_dataset_size(model: Model, dataset) -> None:
    """An objective that estimates q(z) over the training set (beta-TCVAE's N) gets that set's size
    when its config leaves it unset."""
    config = getattr(model, "config", None)
    if config is not None and "dataset_size" in type(config).model_fields and config.dataset_size is None:
        model.config = config.model_copy(update={"dataset_size": len(dataset)})


def _first_non_finite(names: list[str], values: torch.Tensor) -> int:
    """The index of the term to blame: the first non-finite one other than the total ``loss`` (which
    is non-finite because a term is), or ``loss`` itself when no term is."""
    bad = (~torch.isfinite(values)).nonzero().flatten().tolist()
    named = [i for i in bad if names[i].rsplit("/", 1)[-1] != "loss"]
    return (named or bad)[0]


def _window_state(sums: dict[str, torch.Tensor], count: int) -> dict:
    # term names may hold '/', the checkpoint's path separator: names go to JSON, values in one tensor
    names = list(sums)
    values = torch.stack([sums[k] for k in names]) if names else torch.zeros(0)
    return {"count": count, "names": names, "sums": values}


def _window_from_state(state: dict | None) -> tuple[dict[str, torch.Tensor], int]:
    if not state:
        return {}, 0
    return dict(zip(state["names"], state["sums"].unbind(), strict=True)), int(state["count"])


def fit(
    model: Model,
    dataset,
    config: TrainConfig,
    run_dir: Path | str,
    seed: int = 0,
    resume: bool = True,
    progress: bool = True,
    fabric=None,
    record: bool = True,
) -> FitResult:
    """Train ``model`` on ``dataset`` (an ImageSet) for ``config.steps`` iterations into ``run_dir``.

    With ``record`` (the default; ``untwine.run.train`` writes its own) the run directory also gets
    ``config.yaml``, describing the model and how to rebuild the data (a registered source's
    options, or a copy of the images), and ``summary.json`` when training ends, so ``load_run`` and
    every command open it. With ``resume`` and a ``state.safetensors`` in ``run_dir``, training
    continues from it. With a
    launched Lightning ``fabric``, this process is one DDP rank: it draws its own batches and only
    rank 0 writes checkpoints, logs and weights.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _set_dataset_size(model, dataset)
    main = fabric is None or fabric.is_global_zero
    if main:
        for orphan in remove_temporary_files(run_dir):
            print(f"untwine: removed {orphan}, left by a write that a kill interrupted", file=sys.stderr)
    device = resolve_device(config.device) if fabric is None else fabric.device
    if config.allocator == "keep_freed":  # a process-wide setting: only when asked (see TrainConfig)
        keep_freed_memory()  # a third of a CPU step was page faults on freshly mapped feature maps
    memory_format = _memory_format(config, device)
    precision = mixed_precision.resolve_precision(config.precision, device)
    model.to(device, memory_format=memory_format)
    dataset = _on_device(dataset, config, device)
    if config.compile:
        for network in model.children():  # in place: the state dict keeps its names
            network.compile()
    steps = model.training_steps()
    rank, world = (0, 1) if fabric is None else (fabric.global_rank, fabric.world_size)
    recorded = record and main and _record(model, dataset, config, run_dir, seed)
    if fabric is None:
        losses = [step.loss for step in steps]
    else:
        from untwine.train.distributed import distributed_losses

        _, losses = distributed_losses(fabric, model, steps)
        if rank > 0:  # rank 0 keeps the single-process noise stream; the others get their own
            torch.manual_seed(torch.initial_seed() + rank)
    optimizers = [
        adam(step.parameters, lr=step.lr or config.lr, betas=step.betas or config.adam_betas)
        for step in steps
    ]
    sampler = dataset.sampler(config.batch_size, seed)
    draws_per_iteration = sum(step.repeat for step in steps)

    start, earlier_seconds = 0, 0.0
    sums: dict[str, torch.Tensor] = {}
    count = 0
    state_path = run_dir / STATE_FILE
    checkpointed: int | None = None  # the step of the last checkpoint on disk
    if resume and state_path.exists():
        state = load_state(state_path)
        try:
            model.load_state_dict(state["model"])
            for step, optimizer in zip(steps, optimizers, strict=True):
                optimizer.load_state_dict(_optimizer_state(state["optimizers"][step.name]))
        except (KeyError, RuntimeError, ValueError) as err:
            raise ResumeError(f"{state_path}: this checkpoint does not fit the model ({err})") from err
        _set_rng_state(state["rng"].get("ranks", {}).get(str(rank), state["rng"]))
        start = checkpointed = int(state["progress"]["step"])
        earlier_seconds = float(state["progress"].get("seconds", 0.0))
        sums, count = _window_from_state(state.get("log_window"))
        if start > config.steps:
            raise ResumeError(f"{state_path}: the run has trained {start} steps, more than "
                              f"train.steps={config.steps}; ask for at least {start}")
    began = time.perf_counter()

    def checkpoint(done: int) -> None:
        nonlocal checkpointed
        rng = _rng_state()
        if fabric is not None:  # every rank's RNG, so each resumes its own noise stream
            gathered = fabric.all_gather({k: v.to(device) for k, v in rng.items()})
            rng["ranks"] = {str(r): {k: v[r].cpu().clone() for k, v in gathered.items()}
                            for r in range(world)}
        if main:
            # the logs up to here and the weights go to disk before the state that commits the step:
            # a resume from this state must not lose log lines, nor keep older weights
            if logger is not None:
                logger.flush()
            save_weights(model, run_dir / WEIGHTS_FILE)
            save_state(state_path, {
                "model": model.state_dict(),
                "optimizers": {s.name: o.state_dict() for s, o in zip(steps, optimizers, strict=True)},
                "rng": rng,
                "progress": {"step": done, "seconds": earlier_seconds + time.perf_counter() - began},
                "log_window": _window_state(sums, count),
            })
        checkpointed = done
        if fabric is not None:
            fabric.barrier()

    def kept() -> str:
        if checkpointed is None:
            return (f"no checkpoint exists yet (the first was due at step "
                    f"{min(config.checkpoint_every, config.steps)})")
        return f"the last checkpoint, at step {checkpointed}, is kept in {state_path}"

    def name(step_name: str, term: str) -> str:
        return term if len(steps) == 1 else f"{step_name}/{term}"

    logger = RunLogger(run_dir, start) if main else None
    bar = tqdm(
        total=config.steps, initial=start, unit="step", disable=not (progress and main),
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 10.0, desc=run_dir.name,
    )
    last: dict[str, float] = {}
    if start == config.steps and main:  # finished before: its last logged terms, for the summary
        logged = [line for line in read_metrics(run_dir) if line.get("step") == start]
        last = {k: v for k, v in logged[-1].items() if k != "step"} if logged else {}
    model.train()
    try:
        # bf16: each network computes under autocast and hands float32 to the objective
        with mixed_precision.networks_in(model, precision, device):
            for iteration in range(start, config.steps):
                draw = iteration * draws_per_iteration
                for step, loss, optimizer in zip(steps, losses, optimizers, strict=True):
                    for _ in range(step.repeat):
                        index = draw * world + rank  # ranks draw disjoint batches of one stream
                        batch = augment(dataset.load(sampler.indices(index), device), config.augment,
                                        seed, index)
                        batch = _in_format(batch, memory_format)
                        draw += 1
                        terms = loss(batch)
                        values = torch.stack([t.detach().float() for t in terms.values()])
                        if fabric is not None:  # log rank means; a NaN on one rank stops them all
                            values = fabric.all_reduce(values, reduce_op="mean")
                        if not bool(torch.isfinite(values).all()):
                            bad = _first_non_finite(list(terms), values)
                            raise NonFiniteLossError(
                                f"step {iteration + 1}: loss term {name(step.name, list(terms)[bad])!r} "
                                f"is {values[bad].item()}; training stopped, and {kept()}"
                            )
                        optimizer.zero_grad(set_to_none=True)
                        if fabric is None:
                            terms["loss"].backward()
                        else:
                            fabric.backward(terms["loss"])
                        optimizer.step()
                    for term, value in zip(terms, values, strict=True):
                        key = name(step.name, term)
                        sums[key] = sums.get(key, 0.0) + value
                count += 1
                done = iteration + 1
                if done % config.log_every == 0 or done == config.steps:
                    last = {k: float(v) / count for k, v in sums.items()}
                    if logger is not None:
                        logger.log(done, last)
                    bar.set_postfix(loss=f"{last.get('loss', next(iter(last.values()))):.4g}")
                    sums, count = {}, 0
                if done % config.checkpoint_every == 0 or done == config.steps:
                    checkpoint(done)
                bar.update(1)
    finally:
        bar.close()
        if logger is not None:
            logger.close()
    seconds = time.perf_counter() - began
    images_per_step = draws_per_iteration * config.batch_size * world
    total_seconds = earlier_seconds + seconds
    result = FitResult(
        run_dir=run_dir, steps=config.steps, resumed_from=start, seconds=seconds,
        images_per_second=(config.steps - start) * images_per_step / max(seconds, 1e-9),
        last_terms=last, total_seconds=total_seconds,
        total_images_per_second=config.steps * images_per_step / max(total_seconds, 1e-9),
        precision=precision,
        cpu_bf16_features=mixed_precision.cpu_bf16_features() if device.type == "cpu" else [],
    )
    if recorded:
        write_summary(run_dir, result)
    return result


def _record(model: Model, dataset, config: TrainConfig, run_dir: Path, seed: int) -> bool:
    """config.yaml for a run trained from Python, so ``load_run`` and the commands open it."""
    (run_dir / SUMMARY_FILE).unlink(missing_ok=True)
    values = run_record(model, dataset, config, run_dir, seed)
    if values is None:
        warnings.warn(f"fit(): {run_dir} gets no config.yaml, so load_run cannot open it: only a "
                      f"registered model (untwine.models.MODELS; this is a {type(model).__name__}) "
                      f"trained on an ImageSet (this is a {type(dataset).__name__}) can be rebuilt",
                      stacklevel=3)
        return False
    write_record(values, run_dir)
    return True
