"""fit() lowers the loss, resumes bit for bit, stops on a non-finite loss, and logs every term."""

import json

import pytest
import torch

from untwine.config import TrainConfig
from untwine.data import shapes
from untwine.data.batch import Batch
from untwine.models import build_model, model_config
from untwine.models.base import TrainingStep
from untwine.train.checkpoint import read_safetensors
from untwine.train.fit import NonFiniteLossError, fit


@pytest.fixture(scope="module")
def small_shapes():
    # 3 x 2 x 4 x 8 x 8 = 1536 binary 32x32 images: the smallest grid that still has every factor
    return shapes(scale=2, orientation=4, pos_x=8, pos_y=8, size=32)


def tcvae(dataset, **overrides):
    torch.manual_seed(0)
    values = {"name": "betatcvae", "channels": 1, "size": 32, "latent_dim": 4,
              "dataset_size": len(dataset), **overrides}
    return build_model(model_config(values))


def config(steps, **overrides):
    values = {"batch_size": 32, "lr": 1e-3, "log_every": 10, "checkpoint_every": 50, "device": "cpu"}
    return TrainConfig(steps=steps, **{**values, **overrides})


def test_training_lowers_the_loss_and_logs_every_term(small_shapes, tmp_path):
    fit(tcvae(small_shapes), small_shapes, config(120), tmp_path, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == list(range(10, 121, 10))
    for term in ("loss", "reconstruction", "index_code_mi", "total_correlation", "dimension_wise_kl"):
        assert term in lines[0]
    assert lines[-1]["loss"] < 0.6 * lines[0]["loss"]
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "state.safetensors").exists()
    assert any((tmp_path / "tb").iterdir())


def test_fit_sets_betatcvaes_n_from_its_data_and_a_model_without_n_refuses(small_shapes, tmp_path):
    model = tcvae(small_shapes, dataset_size=None)
    batch = small_shapes.load(torch.arange(8), torch.device("cpu"))
    with pytest.raises(ValueError, match="dataset_size .N, the training-set size"):
        model.objective(batch)
    fit(model, small_shapes, config(2), tmp_path, progress=False)
    assert model.config.dataset_size == len(small_shapes)
    # N is what the estimate uses: the batch size in its place changes the total correlation.
    torch.manual_seed(1)
    with_n = model.objective(batch)["total_correlation"]
    torch.manual_seed(1)
    model.config = model.config.model_copy(update={"dataset_size": len(batch.images)})
    assert not torch.isclose(model.objective(batch)["total_correlation"], with_n)


def test_resume_continues_bit_for_bit(small_shapes, tmp_path):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    fit(tcvae(small_shapes), small_shapes, config(100), straight, progress=False)
    fit(tcvae(small_shapes), small_shapes, config(50), broken, progress=False)
    # a fresh process would build the model again (from the same seed) and resume from the state
    result = fit(tcvae(small_shapes), small_shapes, config(100), broken, progress=False)
    assert result.resumed_from == 50
    a, b = read_safetensors(straight / "model.safetensors"), read_safetensors(broken / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    steps = [json.loads(line)["step"] for line in (broken / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, 101, 10))


def test_a_kill_after_the_last_checkpoint_redoes_those_steps_without_duplicate_log_lines(small_shapes, tmp_path):
    fit(tcvae(small_shapes), small_shapes, config(70, checkpoint_every=50), tmp_path, progress=False)
    # pretend the process died at step 70 before its final checkpoint: rewind the state to step 50
    partial = tmp_path / "partial"
    fit(tcvae(small_shapes), small_shapes, config(50), partial, progress=False)
    (partial / "metrics.jsonl").write_text((tmp_path / "metrics.jsonl").read_text())
    fit(tcvae(small_shapes), small_shapes, config(70), partial, progress=False)
    steps = [json.loads(line)["step"] for line in (partial / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30, 40, 50, 60, 70]


class ExplodingModel(torch.nn.Module):
    """A model whose ``term`` turns to NaN at its ``at``-th call (and the total with it, if asked)."""

    def __init__(self, inner, at: int = 30, term: str = "total_correlation", total: bool = False):
        super().__init__()
        self.inner, self.calls, self.at, self.term, self.total = inner, 0, at, term, total

    def training_steps(self):
        def loss(batch: Batch):
            self.calls += 1
            terms = self.inner.objective(batch)
            if self.calls >= self.at:
                terms[self.term] = terms[self.term] * float("nan")
                if self.total:
                    terms["loss"] = terms["loss"] + terms[self.term]
            return terms

        return [TrainingStep("tcvae", list(self.parameters()), loss)]


def test_a_non_finite_term_stops_the_run_names_the_term_and_keeps_the_last_checkpoint(small_shapes, tmp_path):
    model = ExplodingModel(tcvae(small_shapes))
    with pytest.raises(NonFiniteLossError, match=r"step 30: loss term 'total_correlation' is nan") as err:
        fit(model, small_shapes, config(100, checkpoint_every=20), tmp_path, progress=False)
    assert f"the last checkpoint, at step 20, is kept in {tmp_path / 'state.safetensors'}" in str(err.value)
    kept = read_safetensors(tmp_path / "state.safetensors")
    assert all(torch.isfinite(t).all() for k, t in kept.items() if t.is_floating_point())
    from untwine.train.checkpoint import load_state

    assert load_state(tmp_path / "state.safetensors")["progress"]["step"] == 20


def test_a_non_finite_loss_names_the_term_behind_it_and_says_when_no_checkpoint_exists(small_shapes, tmp_path):
    # the total is NaN because reconstruction is: the message names reconstruction, the first cause
    model = ExplodingModel(tcvae(small_shapes), at=2, term="reconstruction", total=True)
    with pytest.raises(NonFiniteLossError) as err:
        fit(model, small_shapes, config(100, checkpoint_every=20), tmp_path, progress=False)
    assert str(err.value) == ("step 2: loss term 'reconstruction' is nan; training stopped, and no "
                              "checkpoint exists yet (the first was due at step 20)")
    assert not (tmp_path / "state.safetensors").exists()


def test_weights_of_another_shape_are_refused_with_the_file_named(small_shapes, tmp_path):
    from untwine.train.checkpoint import load_weights, save_weights

    save_weights(tcvae(small_shapes), tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"model\.safetensors: weights do not fit the model"):
        load_weights(tcvae(small_shapes, latent_dim=5), tmp_path / "model.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="broken.safetensors: not a readable safetensors file"):
        load_weights(tcvae(small_shapes), tmp_path / "broken.safetensors")


def test_files_written_atomically_get_the_mode_open_would_give(tmp_path):
    import os
    import stat

    from untwine.train.checkpoint import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "report.html", "<html></html>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "report.html").st_mode) == 0o644


def _trained_weights(dataset, tmp_path, **overrides) -> dict[str, torch.Tensor]:
    model = tcvae(dataset)
    fit(model, dataset, config(4, **overrides), tmp_path, progress=False)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_channels_last_trains_the_same_network(small_shapes, tmp_path):
    plain = _trained_weights(small_shapes, tmp_path / "plain", memory_format="contiguous")
    model = tcvae(small_shapes)
    fit(model, small_shapes, config(4, memory_format="channels_last"), tmp_path / "cl", progress=False)
    convolutions = [p for p in model.parameters() if p.ndim == 4]
    assert convolutions and all(p.is_contiguous(memory_format=torch.channels_last) for p in convolutions)
    for name, value in model.state_dict().items():  # other kernels, other summation order
        torch.testing.assert_close(value, plain[name], rtol=1e-3, atol=1e-4, msg=name)


def test_the_dataset_moves_to_the_device_only_when_asked_or_when_it_fits(small_shapes):
    from untwine.data.pairs import PairSet
    from untwine.train.fit import _on_device

    meta = torch.device("meta")  # stands in for an accelerator: tensors move there without memory
    assert _on_device(small_shapes, config(1, data_on_device="yes"), meta).device == meta
    assert _on_device(small_shapes, config(1, data_on_device="no"), meta) is small_shapes
    assert _on_device(small_shapes, config(1), meta) is small_shapes  # auto: CUDA only
    assert _on_device(small_shapes, config(1, data_on_device="yes"), torch.device("cpu")) is small_shapes
    pairs = PairSet(small_shapes, "factors", 1)
    moved = _on_device(pairs, config(1, data_on_device="yes"), meta)
    assert moved.imageset.device == meta and pairs.imageset is small_shapes and moved.source is pairs.source


def test_compiled_networks_train_like_eager_ones_and_keep_their_names(small_shapes, tmp_path):
    # in fp32: compiled and eager bf16 round differently (fused kernels), by far more than 1e-3
    eager = _trained_weights(small_shapes, tmp_path / "eager", precision="fp32")
    model = tcvae(small_shapes)
    fit(model, small_shapes, config(4, compile=True, precision="fp32"), tmp_path / "compiled",
        progress=False)
    # nn.Module.compile() leaves its mark: a compiled call in place of the eager one
    assert all(network._compiled_call_impl is not None for network in model.children())
    compiled = {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert compiled.keys() == eager.keys()
    for name, value in compiled.items():
        torch.testing.assert_close(value, eager[name], rtol=1e-3, atol=1e-4, msg=name)


class Interrupted(Exception):
    pass


class InterruptedModel(torch.nn.Module):
    """Stops the process's training (as a kill would) when it reaches step ``at``."""

    def __init__(self, inner, at: int | None):
        super().__init__()
        self.inner, self.at, self.calls = inner, at, 0

    def training_steps(self):
        def loss(batch: Batch):
            self.calls += 1
            if self.calls == self.at:
                raise Interrupted
            return self.inner.objective(batch)

        return [TrainingStep("tcvae", list(self.parameters()), loss)]


def _scalars(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_logs_after_resumes_equal_the_uninterrupted_runs_line_for_line(small_shapes, tmp_path):
    # checkpoints at 20, 40, 60 and log lines at 15, 30, 45, 60: the stop at step 50 resumes from 40,
    # inside the window 31..45 whose running sums the checkpoint must hold; the stop at 70 resumes
    # from 60, a logged step that TensorBoard must keep
    settings = config(80, log_every=15, checkpoint_every=20)
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    fit(tcvae(small_shapes), small_shapes, settings, straight, progress=False)
    for at in (50, 30, None):  # the second session stops at its 30th step, step 70
        model = InterruptedModel(tcvae(small_shapes), at)
        if at is None:
            fit(model, small_shapes, settings, broken, progress=False)
        else:
            with pytest.raises(Interrupted):
                fit(model, small_shapes, settings, broken, progress=False)
    assert (broken / "metrics.jsonl").read_text() == (straight / "metrics.jsonl").read_text()
    scalars = _scalars(broken)
    assert scalars == _scalars(straight)
    assert [step for step, _ in scalars["loss"]] == [15, 30, 45, 60, 75, 80]
