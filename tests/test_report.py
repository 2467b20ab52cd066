"""``untwine report``: one self-contained HTML page with the config, every loss curve, the scores of
the runs side by side, their figures and (given a classifier) rationales."""

import base64
import html
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
from _tiny_runs import tiny_runs
from PIL import Image

from untwine.cli import main
from untwine.report.figures import loss_terms, training_curves
from untwine.report.html import read_run, render_report, write_report
from untwine.train.logging import read_metrics


class Links(HTMLParser):
    """Every attribute that can load something, and every tag, of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "action", "poster") and value is not None:
                self.links.append((tag, name, value))


def fake_rationale(encode, decode, classifier, images, target=None):
    """A stand-in for untwine.explain.rationale: every code moved along one fixed direction, with
    step counts and outcomes the test can recognize."""
    import torch

    with torch.no_grad():
        return _fake_result(encode, decode, classifier, images)


def _fake_result(encode, decode, classifier, images):
    import torch

    from untwine.explain.rationale import RationaleResult

    z = encode(images)
    moved = z + torch.linspace(0, 1, z.shape[1])
    reconstruction, counterfactual = decode(z).numpy(), decode(moved).numpy()
    rows, classes = len(z), classifier.out_features
    probabilities = torch.softmax(classifier(z), 1).numpy()
    return RationaleResult(
        original=images.numpy(), reconstruction=reconstruction, counterfactual=counterfactual,
        difference=reconstruction - counterfactual, trajectory=np.zeros((12, rows)),
        reached=np.array([True, False] * rows)[:rows], steps=np.arange(rows) + 7,
        source=probabilities.argmax(1), target=np.full(rows, classes - 1), initial=probabilities,
        final=probabilities, codes=moved.numpy(), seconds=0.0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def page(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    write_report(runs, out, rationale=fake_rationale)
    return out.read_text()


def test_the_page_references_nothing_outside_itself(page):
    parser = Links()
    parser.feed(page)
    assert parser.links, "the page has no images at all"
    for tag, name, value in parser.links:
        assert value.startswith("data:image/png;base64,"), (tag, name, value[:80])
    assert "script" not in parser.tags and "link" not in parser.tags and "iframe" not in parser.tags
    assert "url(" not in page and "@import" not in page
    assert "http://" not in page and "https://" not in page


def test_every_figure_is_an_embedded_png(page, runs):
    parser = Links()
    parser.feed(page)
    images = [Image.open(io.BytesIO(base64.b64decode(v.split(",", 1)[1]))) for _, _, v in parser.links]
    assert all(image.format == "PNG" and image.width > 50 for image in images)
    figures = sum(len(list((run / "figures").glob("*.png"))) for run in runs)
    # the training curves, each run's figures (traversals, MI matrix) and beta1's rationales
    assert len(images) == 1 + figures + 1
    captions = html.unescape(page)
    assert "traversal" in captions and "mi matrix" in captions
    assert "every logged term against the training step" in captions


def test_the_config_and_the_scores_table_appear(page, runs):
    a, b = runs
    for run in runs:
        assert html.escape((run / "config.yaml").read_text()) in page
    scores = json.loads((a / "eval.json").read_text())["disentanglement"]["scores"]
    table = page.split("<h2>scores</h2>", 1)[1].split("</table>", 1)[0]
    assert "<th>mig</th>" in table and "<th>sap</th>" in table
    assert f"<td>{scores['mig']:.3f}</td>" in table and f"<td>{scores['sap']:.3f}</td>" in table
    assert "<td>beta4</td><td>-</td><td>-</td>" in table  # beta4 was not scored
    training = page.split("<h2>training</h2>", 1)[1].split("</table>", 1)[0]
    last = json.loads((b / "summary.json").read_text())["last_terms"]
    assert f"<td>{last['kl']:.4g}</td>" in training and "<th>last total_correlation</th>" in training


def test_rationales_appear_for_the_run_with_a_classifier(runs):
    a, b = runs
    with_classifier = read_run(a, rationale=fake_rationale)
    assert with_classifier.rationale["classes"] == ["square", "ellipse", "heart"]
    assert with_classifier.rationale["steps"] == [7, 8, 9, 10]
    assert with_classifier.rationale["reached"] == [True, False, True, False]
    assert read_run(b, rationale=fake_rationale).rationale == {}
    section = render_report([with_classifier]).split("<h3>rationales</h3>", 1)[1]
    assert "steps per image: 7, 8, 9, 10" in section and 'src="data:image/png;base64,' in section


def test_training_curves_draw_one_panel_per_term_and_one_line_per_run(runs):
    records = {run.name: read_metrics(run) for run in runs}
    terms = loss_terms(records["beta1"])
    assert {"loss", "reconstruction", "kl", "total_correlation"} <= set(terms) and "step" not in terms
    figure = training_curves(records)
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == terms
    for ax in panels:
        lines = ax.get_lines()
        assert len(lines) == 2
        steps = [r["step"] for r in records["beta1"]]
        assert list(lines[0].get_xdata()) == steps
        assert np.allclose(lines[0].get_ydata(), [r[ax.get_title()] for r in records["beta1"]])
    assert training_curves({"empty": []}) is None


def test_a_term_spanning_decades_gets_a_log_axis():
    records = [{"step": s, "reconstruction": 1000 / s**2, "kl": 1 + s / 10} for s in range(1, 30)]
    reconstruction, kl = training_curves({"run": records}).axes[:2]
    assert reconstruction.get_yscale() == "log" and kl.get_yscale() == "linear"


def test_the_command_writes_next_to_the_run_and_refuses_a_folder_that_is_not_a_run(runs, tmp_path, capsys):
    a, b = runs
    assert main(["report", str(b)]) == 0
    assert (b / "report.html").exists()
    assert str((b / "report.html").resolve()) in capsys.readouterr().out
    out = tmp_path / "twice.html"  # (beta4 only: beta1's classifier would run the library's rationale)
    assert main(["report", str(b), str(b), "--out", str(out)]) == 0 and out.stat().st_size > 10_000
    assert f"beta4 ({b})" in out.read_text()  # one name twice: the folder tells them apart
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
