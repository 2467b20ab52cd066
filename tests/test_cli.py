"""The command line and configs: runs from YAML, folders of runs, resume, traversals, clear errors."""

import json
from pathlib import Path

import pytest
import yaml

from untwine.cli import main
from untwine.config import ConfigError
from untwine.experiment import load_config

TINY = {
    "name": "tiny",
    "seed": 0,
    "data": {"source": "shapes", "options": {"scale": 2, "orientation": 2, "pos_x": 4, "pos_y": 4,
                                            "size": 32}},
    "model": {"name": "betatcvae", "latent_dim": 3},
    "train": {"steps": 6, "batch_size": 16, "log_every": 2, "checkpoint_every": 3, "device": "cpu"},
}


def write(path: Path, values: dict) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


def test_train_writes_a_complete_run_directory(tmp_path, capsys):
    config = write(tmp_path / "tiny.yaml", {**TINY, "output": str(tmp_path / "runs")})
    assert main(["train", str(config), "--set", "model.beta=3"]) == 0
    run = tmp_path / "runs" / "tiny"
    for name in ("config.yaml", "model.safetensors", "state.safetensors", "metrics.jsonl",
                 "summary.json", "figures/traversal.png"):
        assert (run / name).exists(), name
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["model"]["beta"] == 3
    assert resolved["model"]["channels"] == 1 and resolved["model"]["size"] == 32
    assert resolved["versions"]["torch"]
    assert str(run.resolve()) in capsys.readouterr().out


def test_run_folder_trains_each_config_once_and_resume_extends_a_run(tmp_path, capsys):
    folder = tmp_path / "experiments"
    folder.mkdir()
    for beta in (1, 4):
        write(folder / f"b{beta}.yaml", {**TINY, "name": f"b{beta}", "output": str(tmp_path / "runs"),
                                         "model": {**TINY["model"], "beta": beta}})
    assert main(["run", str(folder)]) == 0
    first = json.loads((tmp_path / "runs" / "b1" / "summary.json").read_text())
    assert main(["run", str(folder)]) == 0
    assert capsys.readouterr().out.count("skip ") == 2
    assert json.loads((tmp_path / "runs" / "b1" / "summary.json").read_text()) == first
    # a changed config under a finished run's name is refused, not skipped
    write(folder / "b4.yaml", {**TINY, "name": "b4", "output": str(tmp_path / "runs"),
                               "model": {**TINY["model"], "beta": 5}})
    assert main(["run", str(folder)]) == 2
    assert "already holds a run with another config" in capsys.readouterr().err
    (folder / "b4.yaml").unlink()
    # more steps for a finished run: it resumes from its checkpoint instead of starting over
    assert main(["train", "--resume", str(tmp_path / "runs" / "b1"), "--set", "train.steps=8"]) == 0
    summary = json.loads((tmp_path / "runs" / "b1" / "summary.json").read_text())
    assert summary["resumed_from"] == 6 and summary["steps"] == 8


def test_traverse_writes_the_grid_of_a_chosen_image(tmp_path):
    config = write(tmp_path / "tiny.yaml", {**TINY, "output": str(tmp_path)})
    assert main(["train", str(config)]) == 0
    assert main(["traverse", str(tmp_path / "tiny"), "--image", "5"]) == 0
    assert (tmp_path / "tiny" / "figures" / "traversal_5.png").stat().st_size > 1000
    assert main(["traverse", str(tmp_path / "tiny"), "--image", "100000"]) == 2


def test_evaluate_writes_scores_and_the_mi_matrix(tmp_path, capsys):
    config = write(tmp_path / "tiny.yaml", {**TINY, "output": str(tmp_path)})
    assert main(["train", str(config)]) == 0
    assert main(["evaluate", str(tmp_path / "tiny"), "--metrics", "mig,sap", "--n", "200"]) == 0
    scores = json.loads((tmp_path / "tiny" / "eval.json").read_text())["disentanglement"]
    assert 0.0 <= scores["scores"]["mig"] <= 1.0 and "sap" in scores["scores"]
    assert (tmp_path / "tiny" / "figures" / "mi_matrix.png").exists()
    assert "mig" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "tiny"), "--metrics", "mgi"]) == 2


def test_run_trains_each_seed_evaluates_once_and_tables_mean_and_spread(tmp_path, capsys):
    evaluation = [{"protocol": "disentanglement", "options": {"metrics": ["mig", "sap"], "n": 200}}]
    config = write(tmp_path / "tiny.yaml", {**TINY, "output": str(tmp_path / "runs"), "seeds": [0, 1],
                                            "evaluate": evaluation})
    assert main(["run", str(config)]) == 0
    out = capsys.readouterr().out
    migs = []
    for seed in (0, 1):
        run = tmp_path / "runs" / "tiny" / f"seed{seed}"
        assert yaml.safe_load((run / "config.yaml").read_text())["seed"] == seed
        migs.append(json.loads((run / "eval.json").read_text())["disentanglement"]["scores"]["mig"])
    # the table folds the two seeds into one row: mean ± sample std, computed here independently
    expected = f"{sum(migs) / 2:.3f} ± {abs(migs[0] - migs[1]) / 2 ** 0.5:.3f}"
    row = next(line for line in out.splitlines() if line.startswith("tiny "))
    assert expected in row and row.split()[1] == "2"
    assert main(["run", str(config)]) == 0
    assert capsys.readouterr().out.count("already in eval.json") == 2
    assert main(["table", str(tmp_path / "runs"), "--columns", "sap,mig", "--format", "csv"]) == 0
    header, line = capsys.readouterr().out.strip().splitlines()
    assert header == "run,seeds,sap_mean,sap_std,mig_mean,mig_std"
    assert line.startswith("tiny,2,") and line.endswith(f"{sum(migs) / 2:.6g},{abs(migs[0] - migs[1]) / 2 ** 0.5:.6g}")
    assert main(["table", str(tmp_path / "runs"), "--columns", "mgi"]) == 2
    assert "unknown columns ['mgi']" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"name": "betatcvae", "beta": "high"}}, "model.beta: Input should be a valid number"),
        ({"model": {"name": "betatcvae", "betta": 4}}, "model.betta: Extra inputs are not permitted"),
        ({"model": {"name": "tcvae"}}, "model.name: unknown model 'tcvae'"),
        ({"train": {"stepz": 4}}, "train.stepz: Extra inputs are not permitted"),
        ({"train": {"steps": 0}}, "train.steps: Input should be greater than or equal to 1"),
        ({"data": {"source": "shapez"}}, "data.source: unknown source 'shapez'"),
        ({"data": {"source": "shapes", "options": {"scales": 2}}}, "data.options.scales: Extra inputs"),
        ({"data": {"source": "shapes", "options": {"scale": "big"}}}, "data.options.scale: Input should be a valid integer"),
        ({"evaluate": [{"protocol": "lesionz"}]}, "evaluate.0.protocol: unknown protocol 'lesionz'"),
        ({"evaluate": [{"options": {"nn": 5}}]}, "evaluate.0.options.nn: Extra inputs are not permitted"),
        ({"evaluate": [{"options": {"metrics": ["irs"]}}]}, "evaluate.0.options.metrics.0: Input should be"),
        ({"seeds": 3}, "seeds: Input should be a valid list"),
    ],
)
def test_config_errors_name_the_key_and_what_was_expected(tmp_path, change, message):
    path = write(tmp_path / "bad.yaml", {**TINY, **change})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_cli_reports_errors_in_one_line_without_a_traceback(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: no such config file" in capsys.readouterr().err
    (tmp_path / "broken.yaml").write_text("model: [unclosed")
    assert main(["train", str(tmp_path / "broken.yaml")]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["train", str(write(tmp_path / "t.yaml", TINY)), "--set", "nodots"]) == 2
    assert "expected KEY.PATH=VALUE" in capsys.readouterr().err


def test_a_run_directory_with_another_config_is_not_overwritten(tmp_path, capsys):
    config = write(tmp_path / "tiny.yaml", {**TINY, "output": str(tmp_path)})
    assert main(["train", str(config)]) == 0
    assert main(["train", str(config), "--set", "model.latent_dim=5"]) == 2
    assert "already holds a run with another config" in capsys.readouterr().err
