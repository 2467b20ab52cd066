"""untwine rank: UDR among the seeds of each configuration, written beside the supervised scores
and shown by untwine table and untwine report; the unsupervised protocol."""

import csv
import json

import numpy as np
import pytest
import torch

from untwine.cli import main
from untwine.config import validate_config
from untwine.metrics.udr import udr
from untwine.metrics.unsupervised import unsupervised_scores
from untwine.protocols import evaluate_run, read_evaluation
from untwine.run import load_run, train
from untwine.selection import encode_with_kl, rank

SHAPES = {"scale": 2, "orientation": 2, "pos_x": 4, "pos_y": 4, "size": 32}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, one_torch_thread_module):
    """Two configurations x two seeds, trained for a few steps, scored with MIG and the
    unsupervised protocol: the folder layout untwine sweep writes."""
    folder = tmp_path_factory.mktemp("sweep") / "tiny"
    for label, model in (("beta=1,name=betavae", {"name": "betavae", "beta": 1.0}),
                         ("lambda_od=5,name=dipvae_i", {"name": "dipvae_i", "lambda_od": 5.0})):
        for seed in (0, 1):
            config = validate_config({
                "name": f"tiny/{label}/seed{seed}", "seed": seed, "output": str(folder.parent),
                "data": {"source": "shapes", "options": SHAPES},
                "model": {**model, "latent_dim": 4},
                "train": {"steps": 8, "batch_size": 16, "lr": 1e-3, "log_every": 4,
                          "checkpoint_every": 8, "device": "cpu"},
            })
            train(config, progress=False)
            run = load_run(config.run_dir)
            evaluate_run(run, "disentanglement", options={"metrics": ["mig"], "n": 200})
            evaluate_run(run, "unsupervised", options={"n": 200})
    return folder


@pytest.fixture(scope="module")
def one_torch_thread_module():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_unsupervised_protocol_scores_the_runs_codes(sweep):
    run_dir = sweep / "beta=1,name=betavae" / "seed0"
    section = read_evaluation(run_dir)["unsupervised"]
    run = load_run(run_dir)
    dataset = run.dataset()
    assert len(dataset) == 192 and section["parameters"]["n"] == 192  # fewer images than n = 200
    codes, _ = encode_with_kl(run.model, dataset, np.arange(192))
    expected = unsupervised_scores(codes)
    assert section["scores"]["mutual_info_score"] == pytest.approx(expected.mutual_info_score, rel=1e-6)
    assert section["scores"]["gaussian_wasserstein_correlation"] == pytest.approx(
        expected.gaussian_wasserstein_correlation, rel=1e-5)


def test_rank_writes_each_runs_udr_among_its_seeds(sweep, capsys):
    assert main(["rank", str(sweep), "--n", "100", "--against", "mig,mutual_info_score"]) == 0
    out = capsys.readouterr().out
    assert "rho(udr, disentanglement.mig)" in out
    runs = [sweep / "lambda_od=5,name=dipvae_i" / f"seed{s}" for s in (0, 1)]
    sections = [read_evaluation(r)["udr"] for r in runs]
    loaded = [load_run(r) for r in runs]
    dataset = loaded[0].dataset()
    rows = np.sort(np.random.default_rng(0).choice(len(dataset), 100, replace=False))
    encoded = [encode_with_kl(run.model, dataset, rows) for run in loaded]
    expected = udr([c for c, _ in encoded], [k for _, k in encoded])
    for section, score in zip(sections, expected.model_scores, strict=True):
        assert section["scores"]["udr"] == pytest.approx(score)
        assert section["parameters"]["correlation"] == "spearman"
    assert sections[0]["peers"] == [str(runs[1])]
    with open(sweep / "udr_ranking.csv") as handle:
        ranking = list(csv.DictReader(handle))
    assert len(ranking) == 4 and [float(r["udr"]) for r in ranking] == sorted(
        (float(r["udr"]) for r in ranking), reverse=True)
    correlation = (sweep / "udr_correlation.csv").read_text().splitlines()
    assert correlation[0] == "score,model,spearman_rho,p_value,runs"
    assert any(line.startswith("disentanglement.mig,all,") for line in correlation)
    assert (sweep / "udr_correlation.png").stat().st_size > 0


def test_table_and_report_show_udr_and_unsupervised_beside_supervised(sweep, capsys, tmp_path):
    rank([sweep], n=100, progress=False)
    main(["table", str(sweep), "--columns", "mig,udr,gaussian_total_correlation,mutual_info_score"])
    out = capsys.readouterr().out
    assert "tiny/beta=1,name=betavae" in out and "udr" in out.splitlines()[0]
    assert "mutual_info_score" in out.splitlines()[0]
    page = tmp_path / "report.html"
    main(["report", str(sweep / "beta=1,name=betavae" / "seed0"), "--out", str(page)])
    html = page.read_text()
    for score in ("mig", "udr", "gaussian_wasserstein_correlation", "mutual_info_score"):
        assert score in html, score


def test_a_configuration_with_one_seed_is_skipped_and_an_unknown_score_named(sweep, tmp_path):
    lone = sweep / "lambda_od=5,name=dipvae_i" / "seed0"
    ranking = rank([lone], n=50, write=False, progress=False)
    assert ranking.runs == [] and ranking.skipped == ["tiny/lambda_od=5,name=dipvae_i"]
    with pytest.raises(ValueError, match="score 'nope': unknown"):
        rank([sweep], n=50, write=False, progress=False, against=["nope"])
    with pytest.raises(FileNotFoundError, match="no finished runs"):
        rank([tmp_path], n=50)
    assert json.loads((lone / "eval.json").read_text())  # untouched by write=False runs
