"""train.devices > 1: one run on 2 gloo CPU processes through Lightning Fabric (DDP) keeps the ranks'
weights in sync, trains, draws different batches per rank and resumes bit for bit; bad settings are
config errors naming the key."""

import json

import pytest
import torch
from lightning_fabric import Fabric
from safetensors.torch import load_file, save_file

from untwine.config import ConfigError, TrainConfig, validate_config
from untwine.data import shapes
from untwine.models import build_model, model_config
from untwine.models.base import TrainingStep
from untwine.run import load_run, train
from untwine.train.checkpoint import read_safetensors
from untwine.train.distributed import make_fabric
from untwine.train.fit import fit


def tiny_shapes():
    return shapes(scale=1, orientation=2, pos_x=8, pos_y=8, size=32)


def tiny_model(dataset):
    torch.manual_seed(0)
    values = {"name": "betatcvae", "channels": 1, "size": 32, "latent_dim": 3, "dataset_size": len(dataset)}
    return build_model(model_config(values))


def ddp_config(steps, **overrides):
    values = {
        "batch_size": 16,
        "lr": 1e-3,
        "log_every": 2,
        "checkpoint_every": 3,
        "device": "cpu",
        "devices": 2,
        "strategy": "ddp_spawn",
    }
    return TrainConfig(steps=steps, **{**values, **overrides})


class Recording:
    """An ImageSet that remembers the rows of every batch it loads."""

    def __init__(self, inner):
        self.inner, self.drawn = inner, []

    def __len__(self):
        return len(self.inner)

    def sampler(self, *args, **kwargs):
        return self.inner.sampler(*args, **kwargs)

    def load(self, indices, device=None):
        self.drawn.append(indices.clone())
        return self.inner.load(indices, device)


def flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _rank(fabric, root):
    """Each rank: 6 steps straight, then 3 + a resume to 6; writes what it saw to rank{R}.safetensors."""
    data = Recording(tiny_shapes())
    model = tiny_model(data)
    init = flat(model).clone()
    fit(model, data, ddp_config(6), root / "straight", progress=False, fabric=fabric)
    fit(tiny_model(data), data.inner, ddp_config(3), root / "broken", progress=False, fabric=fabric)
    resumed = tiny_model(data)
    fit(resumed, data.inner, ddp_config(6), root / "broken", progress=False, fabric=fabric)
    save_file(
        {"init": init, "final": flat(model), "resumed": flat(resumed), "drawn": torch.stack(data.drawn)},
        str(root / f"rank{fabric.global_rank}.safetensors"),
    )


def test_two_gloo_processes_stay_in_sync_draw_different_batches_and_resume_bit_for_bit(tmp_path):
    fabric = make_fabric(ddp_config(6), tiny_model(tiny_shapes()))
    fabric.launch(_rank, tmp_path)
    r0, r1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert torch.equal(r0["init"], r1["init"])
    assert torch.equal(r0["final"], r1["final"]), "DDP let the ranks' weights drift apart"
    assert not torch.equal(r0["init"], r0["final"]), "training did not change the weights"
    assert torch.equal(r0["final"], r0["resumed"]) and torch.equal(r1["final"], r1["resumed"])
    assert r0["drawn"].shape == (6, 16)
    for a, b in zip(r0["drawn"], r1["drawn"], strict=True):  # same step, disjoint rows
        assert not set(a.tolist()) & set(b.tolist())
    # only rank 0 wrote, once per logged step, and the weights file is the ranks' common weights
    steps = [json.loads(line)["step"] for line in (tmp_path / "straight" / "metrics.jsonl").open()]
    assert steps == [2, 4, 6]
    weights = read_safetensors(tmp_path / "straight" / "model.safetensors")
    assert torch.equal(
        torch.cat([w.flatten() for w in weights.values()]).sort().values, r0["final"].sort().values
    )


def test_run_train_on_two_processes_returns_the_trained_model(tmp_path):
    config = validate_config(
        {
            "name": "ddp",
            "output": str(tmp_path),
            "data": {
                "source": "shapes",
                "options": {"scale": 1, "orientation": 2, "pos_x": 8, "pos_y": 8, "size": 32},
            },
            "model": {"name": "betavae", "latent_dim": 3},
            "train": {
                "steps": 4,
                "batch_size": 16,
                "log_every": 2,
                "device": "cpu",
                "devices": 2,
                "strategy": "ddp_spawn",
            },
        }
    )
    run, result = train(config, progress=False)
    assert result.steps == 4 and run.finished
    assert torch.equal(flat(run.model), flat(load_run(run.dir).model))
    torch.manual_seed(config.seed)
    assert not torch.equal(flat(run.model), flat(build_model(run.config.model)))


def test_one_process_fabric_trains_exactly_as_plain_fit(tmp_path):
    data = tiny_shapes()
    config = ddp_config(4, devices=1)
    plain = tiny_model(data)  # seeds the RNG, so both fits draw the same noise
    fit(plain, data, config, tmp_path / "plain", progress=False)
    wrapped = tiny_model(data)
    fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")
    fit(wrapped, data, config, tmp_path / "fabric", progress=False, fabric=fabric)
    assert torch.equal(flat(plain), flat(wrapped))


class ClosureLoss(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def training_steps(self):
        return [TrainingStep("free", list(self.parameters()), lambda batch: self.inner.objective(batch))]


def test_a_loss_that_is_not_a_model_method_is_refused_under_fabric(tmp_path):
    data = tiny_shapes()
    model = ClosureLoss(tiny_model(data))
    fabric = Fabric(accelerator="cpu", devices=1)
    with pytest.raises(ValueError, match="training step 'free'.*method of the model"):
        fit(model, data, ddp_config(2, devices=1), tmp_path, progress=False, fabric=fabric)


@pytest.mark.parametrize(
    ("train", "key"),
    [
        ({"strategy": "ring"}, "train.strategy"),
        ({"devices": 0}, "train.devices"),
        ({"num_nodes": 0}, "train.num_nodes"),
        ({"devices": 2, "device": "cuda:1"}, "train.devices"),
    ],
)
def test_bad_distributed_settings_are_config_errors_naming_the_key(train, key):
    values = {"name": "x", "data": {"source": "shapes"}, "model": {"name": "betavae"}, "train": train}
    with pytest.raises(ConfigError, match=key):
        validate_config(values)
