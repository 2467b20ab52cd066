"""Bad input -> the message untwine gives, case by case; README's table is generated from these cases.

Each case makes one bad input in a scratch folder and returns what untwine says about it (an error's
text, or what it prints). The test checks every message holds what it must (the file, key or value
named, no advice to unpickle) and that README's "Bad input" table is exactly what the cases produce
now. After changing a message, write the table again with

    python tests/test_bad_inputs.py
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- bad-inputs:start (tests/test_bad_inputs.py writes this table) -->", "<!-- bad-inputs:end -->"

RUN = {
    "name": "tiny", "seed": 0,
    "data": {"source": "shapes", "options": {"scale": 2, "orientation": 2, "pos_x": 4, "pos_y": 4, "size": 16}},
    "model": {"name": "betatcvae", "latent_dim": 3, "architecture": "mlp"},
    "train": {"steps": 2, "batch_size": 16, "log_every": 1, "checkpoint_every": 2, "device": "cpu"},
}


@dataclass
class Case:
    input: str  # what was given, as the README shows it
    make: Callable[[Path], str]  # makes the input under a scratch folder, returns untwine's message
    expect: tuple[str, ...]  # what the message must hold ({dir} is the scratch folder)


def _error(call: Callable[[], object]) -> str:
    try:
        call()
    except Exception as err:  # noqa: BLE001 (any error: its text is what the user sees)
        return str(err)
    raise AssertionError("no error")


def _stderr(call: Callable[[], object]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(io.StringIO()):
        call()
    # untwine's own lines, not the progress bar's
    return "\n".join(line for line in re.split(r"[\r\n]", buffer.getvalue()) if line.startswith("untwine: "))


def _config(folder: Path, **changes) -> Path:
    path = folder / "bad.yaml"
    path.write_text(yaml.safe_dump({**RUN, **changes}))
    return path


def _load(path: Path) -> Callable[[], object]:
    from untwine.experiment import load_config

    return lambda: load_config(path)


def _trained(folder: Path) -> Path:
    from untwine.config import validate_config
    from untwine.run import train

    run, _ = train(validate_config({**RUN, "output": str(folder)}), progress=False)
    return run.dir


def _resume(run_dir: Path, *overrides: str) -> Callable[[], object]:
    from untwine.cli import build_parser, cmd_train

    args = build_parser().parse_args(["train", "--resume", str(run_dir), *[f"--set={o}" for o in overrides]])
    return lambda: cmd_train(args)


def _npz(folder: Path, name: str, **arrays) -> Path:
    path = folder / name
    np.savez(path, **arrays)
    return path


def _medmnist(path: Path) -> Callable[[], object]:
    from untwine.data import medmnist

    return lambda: medmnist(path)


def _nan_at_step_2(folder: Path) -> str:
    from untwine.config import TrainConfig
    from untwine.data import shapes
    from untwine.models import build_model, model_config
    from untwine.models.base import TrainingStep
    from untwine.train.fit import fit

    data = shapes(scale=2, orientation=2, pos_x=4, pos_y=4, size=16)
    torch.manual_seed(0)
    inner = build_model(model_config({"name": "betatcvae", "latent_dim": 3, "architecture": "mlp",
                                      "channels": 1, "size": 16, "dataset_size": len(data)}))

    class Diverging(torch.nn.Module):  # reconstruction (and so the total) turns NaN at step 2
        def __init__(self):
            super().__init__()
            self.inner, self.calls = inner, 0

        def training_steps(self):
            def loss(batch):
                self.calls += 1
                terms = self.inner.objective(batch)
                if self.calls == 2:
                    terms["reconstruction"] = terms["reconstruction"] * float("nan")
                    terms["loss"] = terms["loss"] + terms["reconstruction"]
                return terms

            return [TrainingStep("vae", list(self.parameters()), loss)]

    config = TrainConfig(steps=10, batch_size=16, checkpoint_every=5, device="cpu")
    return _error(lambda: fit(Diverging(), data, config, folder / "run", progress=False))


def _upload(data: bytes) -> Callable[[], object]:
    from untwine.app.images import decode_upload

    return lambda: decode_upload(data, 1, 16)


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


def _torn_metrics(folder: Path) -> str:
    run = _trained(folder)
    (run / "summary.json").unlink()
    with open(run / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 3, "loss": 41.')
    return _stderr(_resume(run))


def _bad_metrics_line(folder: Path) -> str:
    run = _trained(folder)
    (run / "summary.json").unlink()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join([lines[0], "{oops", *lines[1:]]) + "\n")
    return _error(_resume(run))


def _orphan(folder: Path) -> str:
    run = _trained(folder)
    from untwine.core.io import TEMPORARY_SUFFIX

    (run / f".state.safetensors.k2j4{TEMPORARY_SUFFIX}").write_bytes(b"half")
    return _stderr(_resume(run, "train.steps=3"))


def _finished(folder: Path) -> str:
    run = _trained(folder)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        _resume(run)()
    return buffer.getvalue().splitlines()[0]


def _pickled_checkpoint(folder: Path) -> str:
    from untwine.train.checkpoint import load_state

    path = folder / "state.safetensors"
    torch.save({"step": 3}, path)
    return _error(lambda: load_state(path))


CASES = [
    Case("config key misspelt: `model: {betta: 4}`",
         lambda d: _error(_load(_config(d, model={**RUN["model"], "betta": 4}))),
         ("{dir}/bad.yaml", "model.betta: Extra inputs are not permitted")),
    Case("config value of the wrong type: `model: {beta: high}`",
         lambda d: _error(_load(_config(d, model={**RUN["model"], "beta": "high"}))),
         ("{dir}/bad.yaml", "model.beta", "high")),
    Case("unknown model: `model: {name: tcvae}`",
         lambda d: _error(_load(_config(d, model={"name": "tcvae"}))), ("model.name", "'tcvae'")),
    Case("unknown data source option: `data: {options: {scales: 2}}`",
         lambda d: _error(_load(_config(d, data={"source": "shapes", "options": {"scales": 2}}))),
         ("data.options.scales",)),
    Case("config file that is not there", lambda d: _error(_load(d / "missing.yaml")),
         ("{dir}/missing.yaml: no such config file",)),
    Case("config that is not YAML: `model: [unclosed`",
         lambda d: _error(_load(_write(d / "bad.yaml", "model: [unclosed"))), ("{dir}/bad.yaml: not valid YAML",)),
    Case("`--set nodots`", lambda d: _error(lambda: _apply_overrides({}, ["nodots"])),
         ("'nodots'", "KEY.PATH=VALUE")),
    Case("`untwine train --resume FOLDER` on a folder that is not a run", lambda d: _error(_resume(d)),
         ("{dir}: not a run directory (config.yaml missing)",)),
    Case("checkpoint cut short (20 bytes of `state.safetensors`)",
         lambda d: _error(lambda: _load_state(_write_bytes(d / "state.safetensors", b"\0" * 20))),
         ("{dir}/state.safetensors: not a readable safetensors file",)),
    Case("a pickle (torch.save) named `state.safetensors`", _pickled_checkpoint,
         ("{dir}/state.safetensors: not a safetensors file", "never loads")),
    Case("`metrics.jsonl` whose last line a crash cut short (resume)", _torn_metrics,
         ("{dir}/tiny/metrics.jsonl: dropped line 3, cut short by an interrupted write",)),
    Case("`metrics.jsonl` with a broken line before the last (resume)", _bad_metrics_line,
         ("{dir}/tiny/metrics.jsonl: line 2 is not valid JSON",)),
    Case("temporary file a kill left inside a write (next start)", _orphan,
         ("removed {dir}/tiny/.state.safetensors.k2j4.untwine-tmp",)),
    Case("finished run trained again with the same steps", _finished,
         ("{dir}/tiny: finished at 2 steps; nothing to do, nothing changed",)),
    Case("`--resume RUN --set train.steps=1` on a run with 2 steps, its summary lost",
         lambda d: _error(_resume(_unfinished(_trained(d)), "train.steps=1")),
         ("{dir}/tiny/state.safetensors: the run has trained 2 steps",)),
    Case("a loss term turning NaN at step 2, before the first checkpoint", _nan_at_step_2,
         ("step 2: loss term 'reconstruction' is nan", "no checkpoint exists yet")),
    Case("npz whose array holds Python objects",
         lambda d: _error(_medmnist(_npz(d, "objects.npz", train_images=np.array([{"a": 1}], dtype=object),
                                         train_labels=np.zeros(1)))),
         ("{dir}/objects.npz: array 'train_images' holds Python objects",)),
    Case("gzip file given as npz",
         lambda d: _error(_medmnist(_write_bytes(d / "pathmnist.npz", gzip.compress(b"x" * 100)))),
         ("{dir}/pathmnist.npz is not an .npz file", "gzip")),
    Case("npz without the split asked for",
         lambda d: _error(_medmnist(_npz(d, "pathmnist.npz", test_images=np.zeros((1, 8, 8), np.uint8)))),
         ("{dir}/pathmnist.npz has no key 'train_images'",)),
    Case("explorer upload: a 20000x20000 PNG", lambda d: _error(_upload(_png_header(20000, 20000))),
         ("too large", "the limit is")),
    Case("explorer upload: a text file", lambda d: _error(_upload(b"just some text\n")), ("PNG or JPEG",)),
]


def _apply_overrides(values: dict, overrides: list[str]) -> dict:
    from untwine.core.options import apply_overrides

    return apply_overrides(values, overrides)


def _load_state(path: Path) -> dict:
    from untwine.train.checkpoint import load_state

    return load_state(path)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _unfinished(run: Path) -> Path:
    (run / "summary.json").unlink()
    return run


def messages(scratch: Path) -> list[str]:
    """Every case's message, with its scratch folder written as ``DIR``."""
    found = []
    for i, case in enumerate(CASES):
        folder = scratch / f"case{i}"
        folder.mkdir()
        torch.set_num_threads(1)
        message = case.make(folder)
        for expected in case.expect:
            assert expected.format(dir=folder) in message, (case.input, message)
        assert "allow_pickle" not in message and "Traceback" not in message, message
        found.append(message.replace(str(folder), "DIR"))
    return found


def table(found: list[str]) -> str:
    def cell(text: str) -> str:
        text = re.sub(r"\n\s*", " ", text).replace("|", "\\|")
        return f"`{text}`" if "`" not in text else text

    rows = ["| input | what untwine says |", "| --- | --- |"]
    rows += [f"| {case.input} | {cell(message)} |" for case, message in zip(CASES, found, strict=True)]
    return "\n".join(rows)


def readme_table() -> str:
    text = README.read_text()
    if START not in text or END not in text:
        return ""
    return text.split(START, 1)[1].split(END, 1)[0].strip()


@pytest.fixture(scope="module")
def found(tmp_path_factory) -> list[str]:
    threads = torch.get_num_threads()
    try:
        return messages(tmp_path_factory.mktemp("bad-inputs"))
    finally:
        torch.set_num_threads(threads)


def test_every_bad_input_gets_a_message_naming_what_is_wrong(found):
    assert len(found) == len(CASES)


def test_the_readme_table_is_what_the_cases_produce(found):
    assert readme_table() == table(found), "README's bad-input table is stale: python tests/test_bad_inputs.py"


if __name__ == "__main__":  # write the table into README
    with tempfile.TemporaryDirectory() as scratch:
        new = table(messages(Path(scratch)))
    text = README.read_text()
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    README.write_text(f"{before}{START}\n{new}\n{END}{after}")
    print(json.dumps({"cases": len(CASES)}), file=sys.stderr)
