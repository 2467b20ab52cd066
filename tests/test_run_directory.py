"""A run is its directory: re-running a finished run changes nothing, a moved or copied run resumes
where it is, torn log lines and orphaned temporary files are dealt with, every error names its file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from untwine.cli import main
from untwine.core.io import TEMPORARY_SUFFIX
from untwine.train.checkpoint import load_state, read_safetensors

TINY = {
    "name": "tiny",
    "seed": 0,
    "data": {"source": "shapes", "options": {"scale": 2, "orientation": 2, "pos_x": 4, "pos_y": 4,
                                            "size": 16}},
    "model": {"name": "betatcvae", "latent_dim": 3, "architecture": "mlp"},
    "train": {"steps": 6, "batch_size": 16, "log_every": 2, "checkpoint_every": 3, "device": "cpu"},
}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def finished(tmp_path, one_torch_thread) -> Path:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path / "runs")}))
    assert main(["train", str(config)]) == 0
    return tmp_path / "runs" / "tiny"


def test_a_finished_run_run_again_is_left_exactly_as_it_was(finished, capsys):
    before = snapshot(finished)
    capsys.readouterr()
    assert main(["train", str(finished.parent.parent / "tiny.yaml")]) == 0
    assert main(["train", "--resume", str(finished)]) == 0
    out = capsys.readouterr().out
    assert out.count("finished at 6 steps; nothing to do, nothing changed") == 2
    assert "trained steps" not in out
    assert snapshot(finished) == before
    summary = json.loads((finished / "summary.json").read_text())
    assert summary["seconds"] > 0 and summary["images_per_second"] > 0 and summary["last_terms"]


def test_more_steps_extend_a_finished_run_and_the_summary_counts_every_session(finished):
    # The first session's time as the checkpoint recorded it: what a resume adds its own time to
    # (the first summary's figure also counts the closing after that checkpoint, so it is no bound)
    first_session = load_state(finished / "state.safetensors")["progress"]["seconds"]
    assert main(["train", "--resume", str(finished), "--set", "train.steps=8"]) == 0
    summary = json.loads((finished / "summary.json").read_text())
    assert summary["resumed_from"] == 6 and summary["steps"] == 8
    assert summary["seconds"] >= round(first_session, 2)  # the time of both sessions
    assert main(["train", "--resume", str(finished), "--set", "train.steps=4"]) == 0  # fewer: no-op
    assert json.loads((finished / "summary.json").read_text()) == summary


def test_a_moved_or_copied_run_resumes_where_it_is(finished, tmp_path):
    original = snapshot(finished)
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(finished, copy)
    assert main(["train", "--resume", str(copy), "--set", "train.steps=9"]) == 0
    assert snapshot(finished) == original  # the directory its config names is untouched
    assert load_state(copy / "state.safetensors")["progress"]["step"] == 9
    assert json.loads((copy / "summary.json").read_text())["steps"] == 9
    # renaming it to match is not "another config"
    assert main(["train", "--resume", str(copy), "--set", "name=copy", "--set", "train.steps=10"]) == 0
    assert yaml.safe_load((copy / "config.yaml").read_text())["name"] == "copy"


def test_resuming_with_fewer_steps_than_the_checkpoint_is_refused_naming_the_file(finished, capsys):
    (finished / "summary.json").unlink()  # a run killed after its last checkpoint
    assert main(["train", "--resume", str(finished), "--set", "train.steps=3"]) == 2
    err = capsys.readouterr().err
    assert str(finished / "state.safetensors") in err and "trained 6 steps" in err


def test_not_a_run_directory(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert f"{tmp_path}: not a run directory (config.yaml missing)" in capsys.readouterr().err


def test_a_torn_last_log_line_is_dropped_and_said_with_the_file_named(finished, capsys):
    metrics = finished / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    (finished / "summary.json").unlink()
    state = load_state(finished / "state.safetensors")
    assert state["progress"]["step"] == 6
    metrics.write_text("\n".join(lines) + '\n{"step": 8, "loss": 1.2')  # cut by a crash
    assert main(["train", "--resume", str(finished)]) == 0
    err = capsys.readouterr().err
    assert f"{metrics}: dropped line {len(lines) + 1}, cut short by an interrupted write" in err
    assert metrics.read_text().splitlines() == lines
    # a bad line that is not the last is not a torn write: an error naming the file and line
    metrics.write_text("\n".join([lines[0], "{oops", *lines[1:]]) + "\n")
    (finished / "summary.json").unlink()
    assert main(["train", "--resume", str(finished)]) == 2
    assert f"{metrics}: line 2 is not valid JSON" in capsys.readouterr().err


def test_temporary_files_of_interrupted_writes_are_removed_on_the_next_start(finished, capsys):
    orphans = [finished / f".model.safetensors.abc123{TEMPORARY_SUFFIX}",
               finished / "figures" / f".traversal.png.x{TEMPORARY_SUFFIX}"]
    for orphan in orphans:
        orphan.write_bytes(b"half a file")
    keep = finished / ".notes"  # not ours: left alone
    keep.write_text("mine")
    assert main(["train", "--resume", str(finished), "--set", "train.steps=7"]) == 0
    err = capsys.readouterr().err
    for orphan in orphans:
        assert not orphan.exists() and f"removed {orphan}" in err
    assert keep.read_text() == "mine"


def test_broken_files_in_a_run_are_errors_naming_the_file(finished, capsys):
    (finished / "summary.json").write_text('{"steps": 6,')
    assert main(["train", "--resume", str(finished)]) == 2
    assert f"{finished / 'summary.json'}: not valid JSON" in capsys.readouterr().err
    (finished / "summary.json").unlink()
    (finished / "state.safetensors").write_bytes(b"\x00" * 20)
    assert main(["train", "--resume", str(finished)]) == 2
    assert f"{finished / 'state.safetensors'}: not a readable safetensors file" in capsys.readouterr().err


def test_a_run_being_trained_by_another_process_is_not_trained_twice(finished):
    from untwine.run import RunBusyError, run_lock

    with run_lock(finished), pytest.raises(RunBusyError, match="another process .* is training this run"):
        with run_lock(finished, wait=0.2):
            pass
    with run_lock(finished, wait=0.2):  # released with its holder
        pass


def test_weights_on_disk_match_the_checkpoint_that_commits_them(finished):
    weights = read_safetensors(finished / "model.safetensors")
    state = read_safetensors(finished / "state.safetensors")
    for key, value in weights.items():
        assert torch.equal(value, state[f"model/{key}"]), key
