"""The command line's user errors: one line on stderr that names the option, file or value, exit
code 2, no traceback; and --version."""

from __future__ import annotations

import pytest
import yaml

from untwine.cli import main
from untwine.core.version import __version__

TINY = {
    "name": "tiny", "seed": 0,
    "data": {"source": "shapes", "options": {"scale": 2, "orientation": 2, "pos_x": 4, "pos_y": 4, "size": 32}},
    "model": {"name": "betatcvae", "latent_dim": 3},
    "train": {"steps": 2, "batch_size": 16, "log_every": 1, "checkpoint_every": 2, "device": "cpu"},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-errors")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "output": str(folder / "runs")}))
    assert main(["train", str(config)]) == 0
    return folder / "runs" / "tiny"


def one_line_error(capsys, argv: list[str], after_progress: bool = False) -> str:
    """The error line; ``after_progress``: stderr also holds a progress bar's lines before it."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()[-1:] if after_progress else err.splitlines()
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("untwine: error: "), err
    return lines[0]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"untwine {__version__}"


def test_evaluate_errors_name_the_option_and_the_value(run_dir, capsys):
    err = one_line_error(capsys, ["evaluate", str(run_dir), "--set", "foo=bar"])
    assert "foo" in err and "Extra inputs are not permitted" in err
    err = one_line_error(capsys, ["evaluate", str(run_dir), "--option", "foo=bar"])  # the old name
    assert "foo" in err
    err = one_line_error(capsys, ["evaluate", str(run_dir), "--n", "-5"])
    assert "n: Input should be greater than or equal to 2 (got -5)" in err
    err = one_line_error(capsys, ["evaluate", str(run_dir), "--set", "nokey"])
    assert "--set 'nokey': expected KEY=VALUE" in err
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:  # argparse's own one-line error names the choices
        main(["evaluate", str(run_dir), "--protocol", "bogus"])
    assert exit_.value.code == 2 and "disentanglement" in capsys.readouterr().err


def test_explain_of_a_file_that_is_no_image_names_it(run_dir, tmp_path, capsys):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    err = one_line_error(capsys, ["explain", str(run_dir), "--image", str(text)])
    assert f"--images {text}: not an image file" in err
    listing = tmp_path / "notes.txt"  # a .txt file lists test-split indices
    listing.write_text("not a picture")
    err = one_line_error(capsys, ["explain", str(run_dir), "--images", str(listing)])
    assert f"--images {listing}: expected test-split indices" in err


def test_a_failed_sweep_run_is_one_line_naming_its_log(tmp_path, capsys):
    run = {**TINY, "data": {"source": "saved", "options": {"path": str(tmp_path / "missing.npz")}}}
    sweep = {"name": "broken", "output": str(tmp_path / "runs"), "config": run, "grid": {"seed": [0]}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    err = one_line_error(capsys, ["sweep", str(path)], after_progress=True)
    assert "failed (exit" in err and "its log:" in err
