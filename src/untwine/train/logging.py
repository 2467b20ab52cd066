"""Every logged number goes to metrics.jsonl (one line per logged step) and to TensorBoard (tb/)."""

from __future__ import annotations

import json
from pathlib import Path

from untwine.train.checkpoint import atomic_write_text


class RunLogger:
    """Appends to ``metrics.jsonl`` and ``tb/``; on resume, drops what was logged after ``start``.

    A run killed after its last checkpoint logged steps it will now redo; dropping them keeps one
    line per step in the JSONL file, and TensorBoard's ``purge_step`` does the same for tb/.
    """

    def __init__(self, run_dir: Path, start: int = 0, tensorboard: bool = True) -> None:
        self.path = run_dir / "metrics.jsonl"
        if start > 0 and self.path.exists():
            kept = [
                line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= start
            ]
            atomic_write_text(self.path, "".join(f"{line}\n" for line in kept))
        elif start == 0 and self.path.exists():
            self.path.unlink()
        self._file = self.path.open("a")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(run_dir / "tb"), purge_step=start if start > 0 else None)

    def log(self, step: int, values: dict[str, float]) -> None:
        self._file.write(json.dumps({"step": step, **values}) + "\n")
        self._file.flush()
        if self._tb is not None:
            for name, value in values.items():
                self._tb.add_scalar(name, value, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
