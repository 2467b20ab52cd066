# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # 003 Visual rationales on PneumoniaMNIST
#
# Paper 003 explains a classifier's decision with a **counterfactual in the latent space** of a
# generative model: encode the image, move its code by gradient steps until the classifier's answer
# changes while the decoded image stays close, and show the difference between the reconstruction and
# the counterfactual, the *rationale*: what would have to change for the answer to change. Saliency
# maps, integrated gradients, occlusion and LIME answer a different question (which pixels the
# output is sensitive to), and the tutorial sets the rationale beside them on the same classifier.
#
# Data: PneumoniaMNIST (28x28 chest X-rays, normal / pneumonia) shipped with the project.

# %%
import os
import shlex
import shutil
from pathlib import Path

from untwine.cli import main

TINY = os.environ.get("UNTWINE_TUTORIAL_BUDGET") == "tiny"  # what the test suite runs
OUT = Path(os.environ.get("UNTWINE_TUTORIAL_OUT", "runs/tutorials"))
FIGURES = OUT / "figures"
FIGURES.mkdir(parents=True, exist_ok=True)
STEPS, MAX_STEPS, IMAGES = (2, 5, "0") if TINY else (600, 1000, "0:4")


def untwine(command: str) -> None:
    """Run an untwine command as you would type it in a shell; stop if it fails."""
    print(f"$ untwine {command}")
    assert main(shlex.split(command)) == 0, command


# %% [markdown]
# ## A generative model with an encoder
#
# The rationale needs an encoder and a decoder: a VAE (here) or a WGAN-GP generator with an encoder
# trained to invert it (`model: wgan` then `model: wgan_inversion`, the paper's own choice;
# `experiments/rationales/mnist_*.yaml`).

# %%
untwine(f"train experiments/rationales/pneumonia_vae.yaml --set train.steps={STEPS}"
        f" --set output={OUT}/rationales" + (" --set train.batch_size=8" if TINY else ""))
run = OUT / "rationales" / "pneumonia_vae"

# %% [markdown]
# ## A latent classifier, a rationale and four baselines
#
# `untwine explain RUN --images 0:4` trains the run's latent classifier on its codes the first time
# (kept in the run directory as `classifier.safetensors` + `classifier.yaml`), then explains test
# images 0-3: for each it looks for the smallest change of the decoded image that moves the
# classifier's decision past the cutoff, and says how each row ended (`reached`, `already` there
# before any step, or not within `max_steps`). Saliency, integrated gradients, occlusion and LIME
# are computed on the same classifier (through the encoder), for comparison. `--out DIR` gets
# `rationales.npz` (inputs, reconstructions, counterfactuals, attributions), `rationales.json` and
# the figures. From Python, `LatentRationale(classifier, model).attribute(images, target=...)` returns
# the same maps, Captum-style (`untwine.explain.rationale`).

# %%
untwine(f"explain {run} --images {IMAGES} --max-steps {MAX_STEPS} --out {OUT}/explain")
shutil.copy(sorted((OUT / "explain").glob("rationale*.png"))[0], FIGURES / "003_rationale.png")
shutil.copy(sorted((OUT / "explain").glob("baselines*.png"))[0], FIGURES / "003_baselines.png")

# %% [markdown]
# The image, its reconstruction, the counterfactual the classifier reads as the other class, and the
# rationale (their difference):
#
# ![Rationale](figures/003_rationale.png)
#
# At the default budget (600 VAE steps, CPU) all four test images (pneumonia, P 0.82-0.99) reached
# "normal" (P 0.82 after; first crossing at steps 214-255, the closest counterfactual kept, 783-860
# steps in all). The reconstructions are blurred chests; a sharper generator (the paper's WGAN-GP, or
# more steps) gives a sharper rationale.
#
# The same image under the four attribution baselines:
#
# ![Baselines](figures/003_baselines.png)
#
# ## Which is right? A ground truth
#
# On real X-rays nobody knows which pixels *cause* the label, so no explanation can be scored. The
# `blobs` and `nodules` sources render images whose class is caused by known pixels, so each
# method's attribution can be scored against them (mass inside the cause, pointing game, AUROC,
# deletion and insertion curves, and paper 003's contaminated-classifier check):
# `benchmarks/rationale_quality.py --run blobs=RUN --run nodules=RUN` runs that benchmark on VAEs
# trained on those sets (its docstring gives the commands), and
# `python experiments/rationales/proof.py` the paper's comparisons at a reduced budget. Their
# numbers, and where the rationale wins and loses against the baselines, are in `notes/issue-17.md`.
