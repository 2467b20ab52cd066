"""Paper 002's Figures 1 and 2 drawn from eval.json files: the right columns, dots and means."""

import json

import numpy as np
import pytest
import yaml

from untwine.cli import main
from untwine.report.grouped_figures import MIC_FIGURE, MIG_FIGURE, columns, mic_figure, mig_figure


def fake_run(root, name: str, seed: int, model: dict, mig: float, mic: tuple[float, float, float]):
    run_dir = root / name / f"seed{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"name": f"{name}/seed{seed}", "model": model}))
    scores = {"mig": mig, "reconstruction": 40.0, "mic.posX": mic[0], "mic.posY": mic[1],
              "mic.shape": mic[2]}
    (run_dir / "eval.json").write_text(json.dumps({"grouped": {"scores": scores, "parameters": {}}}))


@pytest.fixture
def runs(tmp_path):
    for seed in range(3):
        fake_run(tmp_path, "betavae-beta10", seed, {"name": "betavae", "beta": 10}, 0.1 + seed, (0, 0, 0))
        fake_run(tmp_path, "betavae-beta5", seed, {"name": "betavae", "beta": 5}, 0.2 + seed, (0, 0, 0))
        fake_run(tmp_path, "grouped", seed, {"name": "grouped", "beta": 1, "groups": [3, 3]},
                 0.3 + seed, (0.5 + seed, 0.6, -0.4))
    return tmp_path


def test_columns_in_the_papers_order_with_every_seed(runs):
    cols = columns([runs])
    assert [c.label for c in cols] == ["Grouped", "β=5", "β=10"]
    assert [s["mig"] for s in cols[0].scores] == pytest.approx([0.3, 1.3, 2.3])


def test_figures_plot_each_seed_and_the_mean(runs):
    cols = columns([runs])
    ax = mig_figure(cols).axes[0]
    seeds, means = ax.collections[0::2], ax.collections[1::2]
    assert np.allclose(seeds[0].get_offsets()[:, 1], [0.3, 1.3, 2.3])
    assert np.allclose([m.get_offsets()[0, 1] for m in means], [1.3, 1.2, 1.1])
    ax = mic_figure(cols).axes[0]
    x_dots = ax.collections[0].get_offsets()  # factor x, first column (Grouped)
    assert np.allclose(x_dots[:, 1], [0.5, 1.5, 2.5]) and np.all(x_dots[:, 0] < 0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["x", "y", "shape"]


def test_cli_draws_both_pngs(runs, tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["figures", "grouped", str(runs), "--out", str(out)]) == 0
    assert (out / MIC_FIGURE).stat().st_size > 0 and (out / MIG_FIGURE).stat().st_size > 0
    assert MIC_FIGURE in capsys.readouterr().out


def test_runs_without_grouped_scores_are_an_error(tmp_path):
    run_dir = tmp_path / "other"
    run_dir.mkdir()
    (run_dir / "eval.json").write_text(json.dumps({"disentanglement": {"scores": {"mig": 0.1}}}))
    with pytest.raises(FileNotFoundError, match="'grouped' scores"):
        columns([tmp_path])
