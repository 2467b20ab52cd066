# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # 001 Weak supervision, variance and masks
#
# Three ideas from the weak-supervision line of work (paper 001 and Locatello et al. 2020):
#
# 1. **Pairs**: two images known to differ in a few factors (two renderings with one factor re-drawn,
#    or two visits of one patient) tell the model which latent dimensions should stay shared. The
#    Ada-GVAE averages the posteriors of the dimensions it judges shared (adaptive threshold) and
#    is compared here with a beta-VAE on single images, same network, beta and budget.
# 2. **The structure of variance**: how much pixel variance each factor induces, and how
#    consistently across the rest of the grid, predicts which factors a VAE separates.
# 3. **Sparse masks**: hard-concrete gates on every channel-to-channel connection (K' = K ⊙ M) with
#    an L0 penalty, and how many connections stay open.
#
# The data are rendered shapes (3 shapes x 6 scales x 10 orientations x 16 x 16 positions, 32x32),
# whose factors are known, so MIG and DCI can be computed.

# %%
import json
import os
import shlex
import shutil
from pathlib import Path

from untwine.cli import main

TINY = os.environ.get("UNTWINE_TUTORIAL_BUDGET") == "tiny"  # what the test suite runs
OUT = Path(os.environ.get("UNTWINE_TUTORIAL_OUT", "runs/tutorials"))
FIGURES = OUT / "figures"
FIGURES.mkdir(parents=True, exist_ok=True)
STEPS = 2 if TINY else 500
N = 300 if TINY else 5000  # codes drawn to score MIG/DCI


def untwine(command: str) -> None:
    """Run an untwine command as you would type it in a shell; stop if it fails."""
    print(f"$ untwine {command}")
    assert main(shlex.split(command)) == 0, command


# %% [markdown]
# ## Ada-GVAE on pairs against beta-VAE
#
# `experiments/adagvae/shapes_adagvae.yaml` adds `pairs: {by: factors, k: 1}` to its data section:
# each training example is two images that differ in one re-drawn factor. The model section names
# `adagvae`, which refuses a config without pairs. Both configs are scored by the
# `disentanglement` protocol (MIG and DCI against the rendered factors).

# %%
budget = (f"--set train.steps={STEPS} --set 'seeds=[0]' --set output={OUT}/weak"
          f" --set 'evaluate=[{{protocol: disentanglement, options: {{metrics: [mig, dci], n: {N}}}}}]'")
if TINY:
    budget += " --set train.batch_size=8 --set 'data.options={orientation: 2, pos_x: 4, pos_y: 4, size: 32}'"
untwine(f"run experiments/adagvae/shapes_adagvae.yaml {budget}")
untwine(f"run experiments/adagvae/shapes_betavae.yaml {budget}")
untwine(f"table {OUT}/weak --columns mig,dci.disentanglement,dci.completeness --format markdown")

# %% [markdown]
# At the default budget (500 steps, one seed, so no spread; CPU) this printed:
#
# | run | seeds | mig | dci.disentanglement | dci.completeness |
# | --- | --- | --- | --- | --- |
# | adagvae-shapes-adagvae | 1 | 0.154 | 0.244 | 0.265 |
# | adagvae-shapes-betavae | 1 | 0.031 | 0.133 | 0.144 |
#
# The pairs help at equal budget here; one seed at 500 steps is a demonstration, not evidence
# (`untwine run experiments/adagvae` trains two seeds of each at 800 steps).
#
# The mutual information between each latent dimension (rows) and each factor (columns) of the
# Ada-GVAE run: a disentangled code has one bright cell per column.
#
# ![Mutual information of the Ada-GVAE's dimensions and the factors](figures/001_mi_matrix.png)

# %%
run = OUT / "weak" / "adagvae-shapes-adagvae" / "seed0"
shutil.copy(run / "figures" / "mi_matrix.png", FIGURES / "001_mi_matrix.png")

# %% [markdown]
# ## The structure of variance
#
# `untwine variance SOURCE` measures, for each factor of a full grid, the pixel variance changing it
# alone induces (global) and how much that varies across the other factors (consistency, a
# coefficient of variation). The `squares` source renders a grey square whose intensity can be put
# on the object or on a separate marker (`intensity_on`), which changes these numbers and with them
# what a VAE finds. Given a run directory instead, it adds the decoder's local principal directions.

# %%
bases = 20 if TINY else 200
untwine(f"variance squares --set intensity_on=object --bases {bases} --out {OUT}/variance-object")
shutil.copy(OUT / "variance-object.png", FIGURES / "001_variance.png")

# %% [markdown]
# ![Variance each factor of squares induces, and how consistently](figures/001_variance.png)
#
# ## Sparse masks
#
# `mask: {weight: λ}` in a model section gates every connection of encoder and decoder; the
# objective gains `mask_l0` = λ × the expected number of open connections. The `sparsity` protocol
# reports the fraction of connections still open and how many layers closed entirely.

# %%
mask_budget = budget.replace(f"{OUT}/weak", f"{OUT}/masked").replace(
    "evaluate=[", "evaluate=[{protocol: sparsity}, ")
untwine(f"run experiments/masked/l0_3e-4.yaml {mask_budget}")
sparsity = json.loads((OUT / "masked" / "masked" / "l0_3e-4" / "seed0" / "eval.json").read_text())["sparsity"]
print("sparsity scores:", {k: round(v, 3) for k, v in sparsity["scores"].items()})

# %% [markdown]
# At the default budget (500 steps) 52% of the connections were still open (`open_connections`
# 0.516) and no layer had closed entirely. The paper's sweep over six strengths is
# `untwine run experiments/masked` (and its report `python experiments/masked/report.py`).
