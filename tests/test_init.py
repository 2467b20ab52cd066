"""`untwine init`: what it finds in a folder (and CSV), the starter config it writes, and that
`untwine train` takes that config as written; bad folders get one-line errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from _ph2_folder import export_ph2
from PIL import Image

from untwine.cli import main
from untwine.data.errors import DataError
from untwine.data.inspect import survey_images, survey_table
from untwine.experiment import load_config


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_CACHE", str(tmp_path / "cache"))


def _png(path, size=32, mode="L", value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    shape = (size, size) if mode == "L" else (size, size, 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)


def test_init_on_exported_ph2_writes_a_config_that_trains(tmp_path, cache, capsys, one_torch_thread):
    folder, table = export_ph2(tmp_path / "ph2")
    config = tmp_path / "ph2.yaml"
    assert main(["init", str(folder), "--csv", str(table), "--out", str(config),
                 "--output", str(tmp_path / "runs")]) == 0
    said = capsys.readouterr().out
    assert "200 readable, 0 unreadable" in said
    assert "128x128 (200)" in said and "RGB (200) -> 3 channel(s)" in said
    assert "label  column  diagnosis" in said
    assert "3: atypical nevus 80 (40%), common nevus 80 (40%), melanoma 40 (20%)" in said
    assert "always guessing the largest class scores ACC 0.40" in said
    text = config.read_text()
    keys = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert all("# " in line for line in keys if not line.rstrip().endswith(":")), "a key without a why"
    values = yaml.safe_load(text)
    options = values["data"]["options"]
    assert (options["image_column"], options["label_column"], options["size"], options["channels"]) == \
        ("image", "diagnosis", 64, 3)
    assert values["model"]["likelihood"] == "gaussian" and values["evaluate"][0]["protocol"] == "lesions"
    load_config(config)  # what `untwine train` validates
    # as written, except the budget: a few steps instead of thousands
    assert main(["train", str(config), "--set", "train.steps=2", "--set", "train.device=cpu"]) == 0
    run = tmp_path / "runs" / values["name"]
    assert (run / "summary.json").is_file() and (run / "model.safetensors").is_file()
    assert main(["init", str(folder), "--csv", str(table), "--out", str(config)]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err


def test_init_without_csv_lists_class_folders_and_reports_corrupt_files(tmp_path, cache, capsys):
    for i in range(6):
        _png(tmp_path / "data" / "normal" / f"n{i}.png", value=i)
        _png(tmp_path / "data" / "pneumonia" / f"p{i}.png", value=10 + i)
    (tmp_path / "data" / "pneumonia" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    config = tmp_path / "xray.yaml"
    assert main(["init", str(tmp_path / "data"), "--out", str(config)]) == 0
    said = capsys.readouterr().out
    assert "12 readable, 1 unreadable" in said and "unreadable pneumonia/broken.png" in said
    assert "2: normal 6 (50%), pneumonia 6 (50%)" in said
    listing = (tmp_path / "xray-images.csv").read_text().splitlines()
    assert listing[0] == "image,label" and len(listing) == 13 and "pneumonia/broken.png" not in "".join(listing)
    options = yaml.safe_load(config.read_text())["data"]["options"]
    assert (options["size"], options["channels"], options["label_column"]) == (32, 1, "label")
    load_config(config)


def test_survey_guesses_subject_and_time_columns(tmp_path):
    for i in range(8):
        _png(tmp_path / "scans" / f"s{i}.png", mode="RGB", value=i)
    table = tmp_path / "visits.csv"
    rows = [f"s{i},P{i // 2},{30 * (i % 2)},{'yes' if i % 3 else 'no'},{0.5 + i}" for i in range(8)]
    table.write_text("file,patient_id,day,finding,volume\n" + "\n".join(rows) + "\n")
    survey = survey_table(table, survey_images(tmp_path / "scans"))
    assert survey.image.column == "file"  # names without extension, as ISIC writes them
    assert (survey.label.column, survey.group.column, survey.time.column) == ("finding", "patient_id", "day")
    assert survey.class_counts() == {"yes": 5, "no": 3}
    assert survey.group_sizes() == {2: 4}


@pytest.mark.parametrize("case, expected", [
    ("missing folder", "no such folder"),
    ("no images", "holds no images"),
    ("too small", "smallest image side is 16 px"),
    ("row names no file", "row 3: image 'gone.png' not found in"),
    ("row names a corrupt file", "row 2: image 'bad.png' cannot be decoded"),
    ("unknown column", "has no column 'grade'"),
])
def test_bad_folders_get_one_line_errors(tmp_path, cache, capsys, case, expected):
    folder = tmp_path / "images"
    folder.mkdir()
    table = tmp_path / "list.csv"
    args = []
    if case == "missing folder":
        folder = tmp_path / "nowhere"
    elif case == "too small":
        _png(folder / "a.png", size=16)
    elif case in ("row names no file", "row names a corrupt file", "unknown column"):
        _png(folder / "a.png")
        (folder / "bad.png").write_bytes(b"GIF89a")
        listed = "bad.png" if case == "row names a corrupt file" else "a.png"
        table.write_text(f"image,label\n{listed},x\ngone.png,y\n")
        args = ["--csv", str(table)] + (["--label-column", "grade"] if case == "unknown column" else [])
    assert main(["init", str(folder), "--out", str(tmp_path / "c.yaml"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "c.yaml").exists()


def test_survey_refuses_a_csv_naming_no_image(tmp_path):
    _png(tmp_path / "im" / "a.png")
    (tmp_path / "t.csv").write_text("name,label\nzzz.png,1\n")
    with pytest.raises(DataError, match="no column names the image files"):
        survey_table(tmp_path / "t.csv", survey_images(tmp_path / "im"))
