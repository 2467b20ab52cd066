"""The ``train`` section of a run config: everything ``fit()`` reads besides the model and the data."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from untwine.core.options import Strict


class TrainConfig(Strict):
    steps: int = Field(10_000, ge=1)
    batch_size: int = Field(64, ge=2)
    lr: float = Field(1e-4, gt=0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="bf16: each network computes under bf16 autocast, weights, optimizer and "
        "loss terms stay fp32; auto: bf16 on CUDA and on CPUs with native bf16 (AVX512-BF16, AMX, "
        "Arm BF16), fp32 elsewhere (train/precision.py); summary.json records the choice"
    )
    augment: list[Literal["hflip", "vflip", "rot90"]] = Field(
        default_factory=list, description="per-image flips / right-angle rotations (data/augment.py)"
    )
    data_on_device: Literal["auto", "yes", "no"] = Field(
        "auto", description="hold the whole uint8 training set on the device (auto: on CUDA when it "
        "takes under half the free memory), so a batch is an index, not a host-to-device copy"
    )
    memory_format: Literal["auto", "channels_last", "contiguous"] = Field(
        "auto", description="auto: channels_last on CUDA (tensor-core convolutions), contiguous on CPU"
    )
    compile: bool = Field(False, description="torch.compile each of the model's networks in place")
    devices: int = Field(
        1, ge=1, description="processes (one per device) training this one run with DDP; "
        "batch_size is per process; with device cpu they are gloo CPU processes"
    )
    strategy: Literal["auto", "ddp", "ddp_spawn"] = Field(
        "auto", description="how devices > 1 start: ddp_spawn (auto) or ddp (re-runs the command)"
    )
    num_nodes: int = Field(1, ge=1, description="machines, each running `devices` processes")
    allocator: Literal["glibc", "keep_freed"] = Field(
        "glibc", description="keep_freed: fit() raises glibc's malloc mmap/trim thresholds for the "
        "whole process before training (untwine.train.fast: page faults were a third of a CPU step); "
        "glibc: fit() leaves the process's allocator alone. The untwine command sets keep_freed for "
        "its own process; in any process MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ do it"
    )
    log_every: int = Field(50, ge=1)
    checkpoint_every: int = Field(1000, ge=1)

    @field_validator("devices")
    @classmethod
    def _one_device_kind(cls, devices: int, info: ValidationInfo) -> int:
        device = info.data.get("device", "auto")
        if devices > 1 and device not in ("auto", "cpu", "cuda", "gpu"):
            raise ValueError(
                f"devices={devices} runs one process per device, so train.device must name a kind "
                f"(auto, cpu, cuda), not the single device {device!r}"
            )
        return devices

    @property
    def distributed(self) -> bool:
        """More than one process trains this run (Lightning Fabric, DDP)."""
        return self.devices > 1 or self.num_nodes > 1
