"""Every logged number goes to metrics.jsonl (one line per logged step) and to TensorBoard (tb/)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from untwine.train.checkpoint import atomic_write_text

METRICS_FILE = "metrics.jsonl"


class RunLogger:
    """Appends to ``metrics.jsonl`` and ``tb/``; on resume, drops what was logged after ``start``.

    A run killed after its last checkpoint logged steps it will now redo; dropping them keeps one
    line per step in the JSONL file, and TensorBoard's ``purge_step`` does the same for tb/. A fresh
    start (``start`` 0) removes both, so a run killed before its first checkpoint logs nothing twice.
    """

    def __init__(self, run_dir: Path, start: int = 0, tensorboard: bool = True) -> None:
        self.path = run_dir / METRICS_FILE
        if start > 0 and self.path.exists():
            kept = [line for line in read_jsonl(self.path) if line.get("step", 0) <= start]
            atomic_write_text(self.path, "".join(f"{json.dumps(line)}\n" for line in kept))
        elif start == 0:
            self.path.unlink(missing_ok=True)
            shutil.rmtree(run_dir / "tb", ignore_errors=True)
        self._file = self.path.open("a")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # TensorBoard hides events at steps >= purge_step: the steps after the checkpoint
            self._tb = SummaryWriter(str(run_dir / "tb"), purge_step=start + 1 if start > 0 else None)

    def log(self, step: int, values: dict[str, float]) -> None:
        self._file.write(json.dumps({"step": step, **values}) + "\n")
        self._file.flush()
        if self._tb is not None:
            for name, value in values.items():
                self._tb.add_scalar(name, value, step)

    def flush(self) -> None:
        """Everything logged so far onto the disk (called before each checkpoint)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSONL file. A last line cut short by a crash is dropped, and said so on
    stderr; a bad line anywhere else is an error naming the file and the line."""
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines):
                print(f"untwine: {path}: dropped line {number}, cut short by an interrupted write "
                      f"({line[:40]!r}...)", file=sys.stderr)
                break
            raise ValueError(f"{path}: line {number} is not valid JSON ({err})") from err
        if not isinstance(record, dict):
            raise ValueError(f"{path}: line {number} is not a JSON object")
        records.append(record)
    return records


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / METRICS_FILE
    if not path.exists():
        return []
    return read_jsonl(path)
